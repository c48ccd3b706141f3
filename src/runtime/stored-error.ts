import type { StoredError } from '../db/queries/jobs.js';
import type { SerializedError } from '../errors.js';

const MAX_MESSAGE = 2000;
const MAX_FRAMES = 10;
const MAX_STACK = 8000;

/**
 * An error as an attempt row stores it: text the database accepts (no NUL characters, no lone
 * UTF-16 surrogates, which PostgreSQL text refuses) and cut to size, so recording a failure can
 * never be the write that fails.
 */
export function toStoredError(error: SerializedError): StoredError {
  return {
    errorClass: storableText(error.name || 'Error', 200),
    errorCode: error.code ? storableText(error.code, 100) : null,
    errorMessage: storableText(error.message ?? '', MAX_MESSAGE),
    errorStack: error.stack ? storableText(truncateStack(error.stack), MAX_STACK) : null,
  };
}

/** `text` without NUL characters or lone surrogates, at most `max` characters (with a marker when cut). */
export function storableText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = String(text).replace(/\u0000/g, '\\0').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** The first frames of a stack, then how many were left out. */
function truncateStack(stack: string): string {
  const lines = stack.split('\n');
  const frames = lines.slice(1);
  if (frames.length <= MAX_FRAMES) return stack;
  return [lines[0] ?? '', ...frames.slice(0, MAX_FRAMES), `    ... ${frames.length - MAX_FRAMES} more frames`].join('\n');
}
