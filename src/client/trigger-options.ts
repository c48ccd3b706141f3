import type { Queryable, TxSql } from '../db/connect.js';
import { durationSeconds, type Duration } from '../duration.js';
import { ClientError } from '../errors.js';

/** Options of a trigger (`DuctworkClient.trigger`, `Pipeline.trigger`). */
export interface TriggerOptions {
  /**
   * Deduplicates: while a pipeline of this class triggered with this key exists (retention keeps
   * finished ones for their keep-time), triggering again returns it instead (`handle.created` is false).
   */
  key?: string;
  /**
   * The caller's postgres.js transaction (`sql.begin(async (tx) => ...)`): the trigger commits or
   * rolls back with it. Its connection needs no Ductwork settings.
   */
  tx?: TxSql;
  /** Start no earlier than this time (compared with the database clock). */
  runAt?: Date;
  /** Start after this long: seconds, or `'15m'`, `'24h'`... */
  delay?: Duration;
}

/** Checks the key and timing options of a trigger of `pipeline`. */
export function triggerTiming(pipeline: string, options: TriggerOptions): { key?: string; runAt?: Date; delaySeconds?: number } {
  const out: { key?: string; runAt?: Date; delaySeconds?: number } = {};
  if (options.key !== undefined) {
    if (typeof options.key !== 'string' || options.key.length === 0 || options.key.length > 500) {
      throw new ClientError('trigger_options_invalid', `${pipeline}.trigger: key must be a non-empty string of at most 500 characters (got ${JSON.stringify(options.key)}).`, {
        details: { pipeline, option: 'key' },
      });
    }
    out.key = options.key;
  }
  if (options.runAt !== undefined && options.delay !== undefined) {
    throw new ClientError('trigger_options_invalid', `${pipeline}.trigger: pass runAt or delay, not both.`, { details: { pipeline, option: 'runAt' } });
  }
  if (options.runAt !== undefined) {
    if (!(options.runAt instanceof Date) || Number.isNaN(options.runAt.getTime())) {
      throw new ClientError('trigger_options_invalid', `${pipeline}.trigger: runAt must be a valid Date (got ${String(options.runAt)}).`, { details: { pipeline, option: 'runAt' } });
    }
    out.runAt = options.runAt;
  }
  if (options.delay !== undefined) {
    try {
      out.delaySeconds = durationSeconds(options.delay, `${pipeline}.trigger delay`);
    } catch (error) {
      throw new ClientError('trigger_options_invalid', (error as Error).message, { details: { pipeline, option: 'delay' } });
    }
  }
  return out;
}

/**
 * Runs `work` in the caller's transaction with the Ductwork schema first on its search_path, and
 * puts the caller's search_path back afterwards (both transaction-local), so the caller's own
 * statements are unaffected.
 */
export async function inSchema<T>(tx: TxSql, schema: string, work: (tx: TxSql) => Promise<T>): Promise<T> {
  const [saved] = await tx`
    select old, set_config('search_path', ${quoteIdent(schema)} || ', ' || old, true)
    from (select current_setting('search_path') as old) s`;
  const result = await work(tx);
  await restoreSearchPath(tx, saved!.old as string);
  return result;
}

function restoreSearchPath(tx: Queryable, old: string) {
  return tx`select set_config('search_path', ${old}, true)`;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
