/**
 * Every error Ductwork throws on purpose is a {@link DuctworkError} with a stable `code`.
 * Match on `code`, not on the message: messages explain, codes are the contract.
 */

/** Stable identifiers of every error Ductwork raises on purpose. */
export type DuctworkErrorCode =
  | 'definition_invalid'
  | 'start_error'
  | 'chain_error'
  | 'divide_error'
  | 'combine_error'
  | 'expand_error'
  | 'collapse_error'
  | 'divert_error'
  | 'converge_error'
  | 'wait_error'
  | 'step_class_invalid'
  | 'pipeline_not_defined'
  | 'config_invalid'
  | 'dashboard_auth_required'
  | 'database_unreachable'
  | 'database_not_migrated'
  | 'migration_failed'
  | 'embedded_database_unavailable'
  | 'unknown_pipeline'
  | 'unknown_step'
  | 'step_output_not_json'
  | 'step_input_invalid'
  | 'step_timeout'
  | 'step_run_next_invalid'
  | 'step_output_rejected'
  | 'trigger_input_not_json'
  | 'context_key_invalid'
  | 'context_value_invalid'
  | 'context_claim_lost'
  | 'context_overwrite'
  | 'context_unavailable'
  | 'pipeline_not_found'
  | 'wait_timeout'
  | 'pipeline_halted'
  | 'revive_error'
  | 'trigger_options_invalid'
  | 'pipeline_cancelled'
  | 'cancel_error'
  | 'signal_invalid'
  | 'signal_target_unknown'
  | 'signal_target_finished'
  | 'schedule_invalid'
  | 'prune_invalid'
  | 'read_invalid'
  | 'app_module_invalid'
  | 'engine_state';

/** Base class of every error Ductwork raises on purpose. `cause` is always kept. */
export class DuctworkError extends Error {
  readonly code: DuctworkErrorCode;
  /** Extra facts about the failure (pipeline, step, key...), for logs and tests. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: DuctworkErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** A pipeline definition is malformed; raised by `Pipeline.define` and named after the DSL call. */
export class DefinitionError extends DuctworkError {}

/** Configuration (file, environment or embedding options) is invalid. */
export class ConfigError extends DuctworkError {}

/** The database cannot be used: unreachable, not migrated, or a migration failed. */
export class DatabaseError extends DuctworkError {}

/** A step could not run as stored: unknown class, unreadable input, output that is not JSON. */
export class StepError extends DuctworkError {}

/** Misuse of `this.context` inside a step. */
export class ContextError extends DuctworkError {}

/** A client call (status, wait, revive) could not be satisfied. */
export class ClientError extends DuctworkError {}

/** Shape of an error after it crossed a thread boundary or was stored. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: string | undefined;
}

/** Turns anything thrown into a plain, cloneable record. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name || error.constructor?.name || 'Error',
      message: error.message,
      stack: error.stack,
      code: typeof code === 'string' ? code : undefined,
    };
  }
  return { name: 'NonError', message: safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
