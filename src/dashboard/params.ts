/**
 * Validation of everything a request brings (query parameters, path segments, form fields).
 * A value that does not fit is a 400 naming the parameter, before anything reaches a query.
 */
import { HttpError } from './responses.js';

/** Turns one raw value into a typed one or throws a 400. */
export type Parser<T> = (raw: string, name: string) => T;

/** What a value may be shown as in an error message: short, and only printable ASCII. */
function shown(raw: string): string {
  const cut = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
  return JSON.stringify(cut.replace(/[^\x20-\x7e]/g, '?'));
}

function invalid(name: string, raw: string, expected: string): never {
  throw new HttpError(400, `${name}: ${expected} (got ${shown(raw)}).`);
}

/** A 0-based page number up to 10,000. */
export const pageNumber: Parser<number> = (raw, name) => {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 10_000) invalid(name, raw, 'must be a whole number from 0 to 10000');
  return Number(raw);
};

/** A page size from 1 to `max`. */
export function pageSize(max: number): Parser<number> {
  return (raw, name) => {
    if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) invalid(name, raw, `must be a whole number from 1 to ${max}`);
    return Number(raw);
  };
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw, name) => {
    if (!(values as readonly string[]).includes(raw)) invalid(name, raw, `must be one of ${values.join(', ')}`);
    return raw as T;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID (pipeline, run, branch or step id), lower-cased. */
export const uuid: Parser<string> = (raw, name) => {
  if (!UUID.test(raw)) invalid(name, raw, 'must be a UUID');
  return raw.toLowerCase();
};

/** A pipeline, step or node name: letters, digits and `_ $ . : -`, at most 200. */
export const name: Parser<string> = (raw, param) => {
  if (!/^[\w$.:-]{1,200}$/.test(raw)) invalid(param, raw, 'must be a class or node name (letters, digits, _ $ . : -)');
  return raw;
};

/** A context key: any text up to 500 characters without control characters. */
export const contextKey: Parser<string> = (raw, param) => {
  if (raw.length > 500 || /[\x00-\x1f]/.test(raw)) invalid(param, raw, 'must be a context key (at most 500 characters)');
  return raw;
};

/** The start of an id (hex digits, dashes optional), as the inclusive UUID range it covers. */
export const idPrefix: Parser<{ prefix: string; from: string; to: string }> = (raw, param) => {
  const hex = raw.trim().toLowerCase().replaceAll('-', '');
  if (!/^[0-9a-f]{1,32}$/.test(hex)) invalid(param, raw, 'must be an id or the start of one (hex digits and dashes)');
  const format = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { prefix: hex, from: format(hex.padEnd(32, '0')), to: format(hex.padEnd(32, 'f')) };
};

/** Time windows offered by the filters, in seconds. */
export const WINDOWS = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800, '30d': 2_592_000 } as const;
export type WindowName = keyof typeof WINDOWS;
export const windowName: Parser<WindowName> = oneOf(Object.keys(WINDOWS) as WindowName[]);

/**
 * Reads the parameters `spec` allows from `params`. An unknown or repeated parameter is a 400;
 * an empty value (an unselected filter in a form) counts as absent.
 */
export function readParams<S extends Record<string, Parser<unknown>>>(
  params: URLSearchParams,
  spec: S,
  where = 'query parameter',
): { [K in keyof S]?: ReturnType<S[K]> } {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const [key, raw] of params) {
    const parse = Object.hasOwn(spec, key) ? spec[key] : undefined;
    if (!parse) throw new HttpError(400, `Unknown ${where} ${shown(key)}${Object.keys(spec).length ? ` (known: ${Object.keys(spec).join(', ')})` : ''}.`);
    if (seen.has(key)) throw new HttpError(400, `${key}: given more than once.`);
    seen.add(key);
    if (raw !== '') out[key] = parse(raw, key);
  }
  return out as { [K in keyof S]?: ReturnType<S[K]> };
}
