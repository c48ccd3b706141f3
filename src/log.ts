import { createConsola, type ConsolaInstance } from 'consola';

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** A tagged logger: every line carries the component that wrote it (`ductwork.job_worker.Enrich`). */
export interface Logger {
  readonly tag: string;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(tag: string): Logger;
}

const CONSOLA_LEVEL: Record<LogLevel, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Creates the root logger at `level`. */
export function createLogger(level: LogLevel = 'info', tag = 'ductwork'): Logger {
  return wrap(createConsola({ level: CONSOLA_LEVEL[level] }), tag);
}

function wrap(consola: ConsolaInstance, tag: string): Logger {
  const tagged = consola.withTag(tag);
  const emit = (kind: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    if (fields && Object.keys(fields).length > 0) tagged[kind](message, fields);
    else tagged[kind](message);
  };
  return {
    tag,
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (sub) => wrap(consola, `${tag}.${sub}`),
  };
}
