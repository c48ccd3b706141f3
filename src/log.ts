import { createConsola, type ConsolaInstance, type LogObject } from 'consola';

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** `pretty` for people, `json` for log collectors (one object per line); `auto` decides by TTY. */
export type LogFormat = 'auto' | 'pretty' | 'json';

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

/** Creates the root logger at `level`, in `format`. */
export function createLogger(level: LogLevel = 'info', tag = 'ductwork', format: LogFormat = 'pretty'): Logger {
  const json = format === 'json' || (format === 'auto' && !process.stdout.isTTY);
  const consola = createConsola({ level: CONSOLA_LEVEL[level], ...(json ? { reporters: [{ log: writeJsonLine }] } : {}) });
  return wrap(consola, tag);
}

/** One JSON object per line: time, level, component, message and the line's fields. */
function writeJsonLine(entry: LogObject): void {
  const [message, fields] = entry.args as [unknown, Record<string, unknown> | undefined];
  const line = { time: entry.date.toISOString(), level: entry.type, component: entry.tag, message, ...(fields && typeof fields === 'object' ? fields : {}) };
  (entry.level <= 1 ? process.stderr : process.stdout).write(`${JSON.stringify(line)}\n`);
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
