import type { Logger } from '../../src/log.js';

/** One line a {@link recordingLogger} received. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  tag: string;
  message: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line in `lines` (in order), for tests that read what the engine said. */
export function recordingLogger(tag = 'ductwork'): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const make = (own: string): Logger => {
    const emit = (level: LogLine['level']) => (message: string, fields: Record<string, unknown> = {}) => void lines.push({ level, tag: own, message, fields });
    return { tag: own, debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), child: (sub) => make(`${own}.${sub}`) };
  };
  return Object.assign(make(tag), { lines });
}
