import { durationSeconds, type Duration } from '../duration.js';

export type { Duration };
import { ConfigError } from '../errors.js';
import { CONFIG_SCHEMA, type KeySpec, type SectionSpec } from './schema.js';

/** A value for every pipeline, or `{ default, <Pipeline>: value }`. */
export type PerPipeline<T> = T | { [pipeline: string]: T };
/** Like {@link PerPipeline}, or per step: `{ <Pipeline>: { default, <Step>: value } }`. */
export type PerStep<T> = T | { [pipeline: string]: T | { [step: string]: T } };


/** Configuration as a user writes it (embedding options or one YAML section). All keys optional. */
export interface DuctworkOptions {
  app?: string | URL;
  pipelines?: '*' | string[];
  role?: 'all' | 'advancer' | 'worker';
  forking?: 'none' | 'default';
  database?: { url?: string; schema?: string; pool_size?: number; call_timeout?: number };
  job_worker?: {
    count?: PerPipeline<number>;
    threads?: number;
    max_retry?: PerStep<number>;
    max_crash?: PerStep<number>;
    polling_timeout?: number;
    shutdown_timeout?: number;
    timeout?: PerStep<Duration>;
    timeout_grace?: Duration;
    crash_backoff?: number;
    retry_backoff?: { initial?: number; multiplier?: number; max?: number; jitter?: number };
  };
  pipeline_advancer?: {
    count?: number;
    batch_size?: number;
    max_retry?: number;
    max_crash?: number;
    polling_timeout?: number;
    shutdown_timeout?: number;
    steps?: { max_depth?: PerStep<number> };
  };
  retention?: { completed?: PerPipeline<Duration>; halted?: PerPipeline<Duration>; interval?: Duration; batch_size?: number };
  supervisor?: { polling_timeout?: number; reaper_timeout?: number; shutdown_timeout?: number };
  dashboard?: { username?: string; password?: string };
  logger?: { level?: 'debug' | 'info' | 'warn' | 'error' | 'silent'; format?: 'auto' | 'pretty' | 'json' };
}

/** Validated configuration with every default filled in. */
export interface DuctworkConfig {
  app: string | undefined;
  pipelines: '*' | string[];
  role: 'all' | 'advancer' | 'worker';
  forking: 'none' | 'default';
  database: { url: string | undefined; schema: string; pool_size: number; call_timeout: number };
  job_worker: {
    count: PerPipeline<number>;
    threads: number;
    max_retry: PerStep<number>;
    max_crash: PerStep<number>;
    polling_timeout: number;
    shutdown_timeout: number;
    /** Seconds. */
    timeout: PerStep<number>;
    /** Seconds. */
    timeout_grace: number;
    crash_backoff: number;
    retry_backoff: { initial: number; multiplier: number; max: number; jitter: number };
  };
  pipeline_advancer: {
    count: number;
    batch_size: number;
    max_retry: number;
    max_crash: number;
    polling_timeout: number;
    shutdown_timeout: number;
    steps: { max_depth: PerStep<number> };
  };
  /** Keep-times and the cleaner's pace, in seconds. */
  retention: { completed: PerPipeline<number>; halted: PerPipeline<number>; interval: number; batch_size: number };
  supervisor: { polling_timeout: number; reaper_timeout: number; shutdown_timeout: number };
  dashboard: { username: string | undefined; password: string | undefined };
  logger: { level: 'debug' | 'info' | 'warn' | 'error' | 'silent'; format: 'auto' | 'pretty' | 'json' };
}

/**
 * Validates `input` and fills in defaults. Unknown keys are rejected by dotted path with the
 * nearest known key suggested; `source` (a file name, "options") is named in every message.
 */
export function resolveConfig(input: unknown, source = 'options'): DuctworkConfig {
  const raw = input === undefined || input === null ? {} : input;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(source, '', 'must be a mapping of configuration keys');
  const normalized = { ...(raw as Record<string, unknown>) };
  if (normalized.app instanceof URL) normalized.app = normalized.app.href;
  return resolveSection(CONFIG_SCHEMA, normalized, '', source) as unknown as DuctworkConfig;
}

function resolveSection(spec: SectionSpec, value: Record<string, unknown>, prefix: string, source: string): Record<string, unknown> {
  const known = Object.keys(spec);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const suggestion = nearest(key, known);
      fail(source, prefix + key, `is not a configuration key${suggestion ? `; did you mean "${prefix}${suggestion}"?` : ''}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const key of known) {
    const child = spec[key]!;
    const path = prefix + key;
    const given = value[key];
    if (isKeySpec(child)) {
      out[key] = resolveKey(child, given, path, source);
    } else {
      // null is an empty YAML section (`job_worker:` with every child commented out), as for keys.
      if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
        fail(source, path, 'must be a mapping');
      }
      out[key] = resolveSection(child, (given ?? {}) as Record<string, unknown>, `${path}.`, source);
    }
  }
  return out;
}

function resolveKey(spec: KeySpec, given: unknown, path: string, source: string): unknown {
  switch (spec.kind) {
    case 'string':
      if (given === undefined || given === null) return spec.default;
      if (typeof given !== 'string' || given.length === 0) fail(source, path, `must be a non-empty string (got ${show(given)})`);
      return given;
    case 'enum':
      if (given === undefined || given === null) return spec.default;
      if (typeof given !== 'string' || !spec.values.includes(given)) {
        fail(source, path, `must be one of ${spec.values.join(', ')} (got ${show(given)})`);
      }
      return given;
    case 'pipelines':
      if (given === undefined || given === null || given === '*') return '*';
      const names = typeof given === 'string' ? given.split(',').map((s) => s.trim()).filter(Boolean) : given;
      if (!Array.isArray(names) || names.length === 0 || !names.every((p) => typeof p === 'string' && p.trim().length > 0 && p.trim() !== '*')) {
        fail(source, path, `must be "*" or a non-empty list of pipeline names (got ${show(given)})`);
      }
      return [...new Set(names.map((p: string) => p.trim()))];
    case 'int':
    case 'number':
    case 'duration': {
      if (given === undefined || given === null) return spec.default;
      const check = (v: unknown, where: string): number => {
        if (spec.kind === 'duration') {
          try {
            return durationSeconds(v, where);
          } catch (error) {
            fail(source, where, (error as Error).message.replace(`${where} `, '').replace(/\.$/, ''));
          }
        }
        const ok = typeof v === 'number' && Number.isFinite(v) && (spec.kind === 'number' || Number.isInteger(v)) && v >= spec.min;
        if (!ok) fail(source, where, `must be ${spec.kind === 'int' ? 'an integer' : 'a number'} >= ${spec.min} (got ${show(v)})`);
        return v as number;
      };
      if (typeof given !== 'object' || given === null || spec.scope === 'global') return check(given, path);
      if (Array.isArray(given)) fail(source, path, `must be a number or a mapping by pipeline (got a list)`);
      const result: Record<string, unknown> = {};
      for (const [pipeline, v] of Object.entries(given as Record<string, unknown>)) {
        if (spec.scope === 'step' && v !== null && typeof v === 'object' && !Array.isArray(v) && pipeline !== 'default') {
          result[pipeline] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([step, n]) => [step, check(n, `${path}.${pipeline}.${step}`)]));
        } else {
          result[pipeline] = check(v, `${path}.${pipeline}`);
        }
      }
      return result;
    }
  }
}

/**
 * The value of a per-pipeline / per-step setting for `pipeline` (and `step`): the most specific
 * entry wins, then the pipeline's `default`, then the top-level `default`, then `fallback`.
 */
export function settingFor(value: PerStep<number>, fallback: number, pipeline: string, step?: string): number {
  if (typeof value === 'number') return value;
  const entry = value[pipeline];
  if (typeof entry === 'number') return entry;
  if (entry && typeof entry === 'object') {
    if (step !== undefined && typeof entry[step] === 'number') return entry[step];
    if (typeof entry.default === 'number') return entry.default;
  }
  const top = value.default;
  return typeof top === 'number' ? top : fallback;
}

function isKeySpec(value: KeySpec | SectionSpec): value is KeySpec {
  return typeof (value as KeySpec).kind === 'string' && typeof (value as KeySpec).doc === 'string';
}

function fail(source: string, path: string, message: string): never {
  const stop = message.endsWith('?') ? '' : '.'; // not `did you mean "role"?.`
  throw new ConfigError('config_invalid', `${source}: ${path ? `${path} ` : ''}${message}${stop}`, { details: { source, key: path } });
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The known key closest to `key` by edit distance, if any is close enough to be a typo. */
export function nearest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length]!;
}
