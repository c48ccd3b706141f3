/** A value that survives a JSON round trip unchanged: what steps take and return. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };

/** Why a value is not JSON, with the path to the offending part (`$.items[2].when`). */
export interface JsonProblem {
  path: string;
  reason: string;
}

/**
 * Encodes `value` as JSON text, refusing anything `JSON.stringify` would silently change:
 * functions, symbols, bigints, non-finite numbers, `undefined` inside arrays, cycles, and
 * class instances other than Date (a Map would become `{}`). Top-level `undefined` encodes as
 * `null` so a step that returns nothing hands `null` to the next step.
 */
export function encodeJson(value: unknown): { ok: true; text: string } | { ok: false; problem: JsonProblem } {
  const problem = findJsonProblem(value === undefined ? null : value, '$', new Set());
  if (problem) return { ok: false, problem };
  return { ok: true, text: JSON.stringify(value === undefined ? null : value) };
}

function findJsonProblem(value: unknown, path: string, seen: Set<object>): JsonProblem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, reason: `${value} is not a finite number` };
    case 'bigint':
      return { path, reason: 'a bigint has no JSON form (convert it to a string or number)' };
    case 'function':
      return { path, reason: 'a function has no JSON form' };
    case 'symbol':
      return { path, reason: 'a symbol has no JSON form' };
    case 'undefined':
      return { path, reason: 'undefined has no JSON form here (use null)' };
    case 'object':
      break;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (object instanceof Date) {
    return Number.isNaN(object.getTime()) ? { path, reason: 'an invalid Date has no JSON form' } : undefined;
  }
  if (seen.has(object)) return { path, reason: 'the value contains a cycle' };
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = findJsonProblem(object[i], `${path}[${i}]`, seen);
        if (found) return found;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      return { path, reason: `a ${name} instance is not a plain JSON object` };
    }
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) continue; // omitted, as JSON does for object properties
      const found = findJsonProblem(item, `${path}.${key}`, seen);
      if (found) return found;
    }
    return undefined;
  } finally {
    seen.delete(object);
  }
}
