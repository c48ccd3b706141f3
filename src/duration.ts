import { ConfigError } from './errors.js';

/** Seconds, or a string of a number and a unit: `'500ms'`, `'30s'`, `'15m'`, `'24h'`, `'7d'`, `'2w'`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;

/**
 * Seconds in a duration: a number of seconds, or a string of a number and a unit (`'500ms'`,
 * `'30s'`, `'15m'`, `'24h'`, `'7d'`, `'2w'`). Throws `ConfigError` naming `where` otherwise.
 */
export function durationSeconds(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const match = typeof value === 'string' ? DURATION.exec(value) : null;
  if (!match) {
    throw new ConfigError('config_invalid', `${where} must be a duration: seconds as a number, or a string like "30s", "15m", "24h", "7d" (got ${JSON.stringify(value) ?? String(value)}).`, {
      details: { key: where },
    });
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}
