/**
 * What every scenario shares: the cell (one system × config × scenario, in a database of its
 * own, with the system in a child process), its result row, the probe that polls for unfinished
 * work, the measured window, and the steps of a cell's life (spawn, set up, prepare, finish).
 */
import postgres from 'postgres';
import { AdapterChild } from './child.js';
import { backendsGone, cpuMs, rowWrites, Sampler, xacts, type RowWrites } from './measure.js';
import type { ChildMessage, ConfigName, Spec, WorkKind } from './protocol.js';

export type Sql = postgres.Sql<Record<string, never>>;

export interface Row {
  scenario: string;
  system: string;
  version: string;
  steps_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  commits_per_step: number | null;
  cpu_ms_per_1k_steps: number | null;
  peak_rss_mb: number | null;
  config: ConfigName;
  mode: 'quick' | 'full';
  /** `n/a`: the system cannot run this cell (the reason is in `notes`); not a failure. */
  status: 'ok' | 'capped' | 'failed' | 'n/a';
  /** The row's primary metric (the one ratios are taken of) and which direction is better. */
  metric: string;
  better: 'higher' | 'lower';
  measure?: string;
  notes?: string;
  error?: string;
  [extra: string]: unknown;
}

export interface Cell {
  system: string;
  adapter: string;
  config: ConfigName;
  scenario: string;
  mode: 'quick' | 'full';
  db: string;
  dbUrl: string;
  concurrency: number;
  poolSize: number;
  /** A connection to the server's `postgres` database: commit counters, backends, CPU. */
  monitor: Sql;
  /** A connection to the same server, for cells that make databases of their own (history). */
  admin: Sql;
  /** The URL of database `name` on the cell's server. */
  urlOf: (name: string) => string;
  /** The server's settings, when it is not the shared one (history, retention). */
  server?: Record<string, string>;
  logFile: string;
  env: NodeJS.ProcessEnv;
}

export const round = (x: number, digits = 1): number | null => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function spawn(cell: Cell, uses: WorkKind[], label = cell.system, extra: Partial<Spec> = {}, dbUrl = cell.dbUrl): { child: AdapterChild; spec: Spec } {
  const child = new AdapterChild(cell.adapter, `${label}/${cell.config}/${cell.scenario}`, cell.logFile, cell.env);
  const spec: Spec = {
    system: cell.system, config: cell.config, scenario: cell.scenario, dbUrl,
    concurrency: cell.concurrency, poolSize: cell.poolSize, uses, ...extra,
  };
  return { child, spec };
}

export type Ready = Extract<ChildMessage, { type: 'ready' }>;

export async function init(child: AdapterChild, spec: Spec): Promise<Ready> {
  child.send({ cmd: 'init', spec });
  return child.wait('ready', 120_000, 'setup (migrations)');
}

/**
 * Polls for unfinished work: with the system's own SQL on a connection of the runner's (peers),
 * or by asking the child (ductwork, whose tables the bench does not read). Every query it causes
 * is counted and later subtracted from the commits.
 */
export class Probe {
  readonly sql: Sql | undefined;
  #queries = 0;
  constructor(readonly child: AdapterChild, url: string, readonly remainingSql: string | undefined) {
    this.sql = remainingSql === undefined ? undefined : (postgres(url, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Sql);
  }
  /** Queries of the runner's own connection (the child reports its own when it stops). */
  get queries(): number {
    return this.#queries;
  }
  async remaining(): Promise<number> {
    if (this.sql) {
      this.#queries++;
      const [row] = await this.sql.unsafe(this.remainingSql!);
      return Number(row!.n);
    }
    this.child.send({ cmd: 'remaining' });
    return (await this.child.wait('remaining', 60_000, 'remaining')).n;
  }
  /** Polls every 20 ms until nothing remains or `capMs` passes; returns when it saw 0 (or undefined). */
  async untilDone(capMs: number, onPoll?: () => void): Promise<number | undefined> {
    const deadline = performance.now() + capMs;
    while (performance.now() < deadline) {
      onPoll?.();
      if ((await this.remaining()) === 0) return performance.timeOrigin + performance.now();
      await sleep(20);
    }
    return undefined;
  }
  async end(): Promise<void> {
    await this.sql?.end({ timeout: 5 });
  }
}

/** A measured window over a child: its CPU, its peak RSS, the db's backends' CPU, and the commits before it. */
export class Window {
  readonly sampler: Sampler;
  before = { commit: 0, rollback: 0 };
  cpu0 = 0;
  cpuMs = 0;
  pgCpuMs = 0;
  constructor(readonly cell: Cell, readonly pid: number) {
    this.sampler = new Sampler(cell.monitor, cell.db, pid);
  }
  static async open(cell: Cell, pid: number): Promise<Window> {
    const window = new Window(cell, pid);
    window.before = await xacts(cell.monitor, cell.db);
    await window.sampler.open();
    window.cpu0 = cpuMs(pid)!;
    return window;
  }
  async close(): Promise<this> {
    this.cpuMs = cpuMs(this.pid)! - this.cpu0;
    this.pgCpuMs = await this.sampler.close();
    return this;
  }
  get peakRssMb(): number {
    return this.sampler.peakRssMb;
  }
}

/** Spawns the adapter, sets it up, starts the workers and lets them settle for `settleMs`. */
export async function running(cell: Cell, uses: WorkKind[], settleMs: number, extra: Partial<Spec> = {}) {
  const { child, spec } = spawn(cell, uses, cell.system, extra);
  const ready = await init(child, spec);
  const writes = ready.statsSchema ? await rowWrites(cell.dbUrl, ready.statsSchema) : undefined;
  child.send({ cmd: 'start' });
  await child.wait('started', 60_000, 'start');
  await sleep(settleMs);
  return { child, ready, version: ready.version, writes };
}

/** VACUUM ANALYZE (or just ANALYZE) + CHECKPOINT before a measured window, on a connection closed before it opens. */
export async function prepare(url: string, what = 'vacuum analyze'): Promise<void> {
  const sql = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} });
  await sql.unsafe(what);
  await sql.unsafe('checkpoint');
  await sql.end();
  await sleep(100);
}

/**
 * Stops the child gracefully, waits for its backends to exit (they publish their counters at
 * exit), and returns commits since `before` (less the probes' own queries) and, when the system
 * has a stats schema, its row writes since `writesBefore`.
 */
export async function finish(
  cell: Cell, child: AdapterChild, probe: Probe | undefined, before: { commit: number }, writesBefore?: { schema: string; at: RowWrites },
): Promise<{ completed: number; commits: number; writes?: RowWrites }> {
  child.send({ cmd: 'stop' });
  const { completed, queries } = await child.wait('stopped', 60_000, 'graceful stop');
  await child.exit();
  await probe?.end();
  await backendsGone(cell.monitor, cell.db);
  const after = await xacts(cell.monitor, cell.db);
  const commits = after.commit - before.commit - (probe?.queries ?? 0) - queries;
  if (!writesBefore) return { completed, commits };
  const now = await rowWrites(cell.dbUrl, writesBefore.schema);
  return { completed, commits, writes: diff(now, writesBefore.at) };
}

function diff(a: RowWrites, b: RowWrites): RowWrites {
  return { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del, hot: a.hot - b.hot };
}

/** Rows written per step (inserts + updates), and deletes and HOT updates per step, for a row. */
export function writesPerStep(writes: RowWrites | undefined, steps: number): Record<string, number | null> {
  if (!writes || steps <= 0) return {};
  const per = (n: number) => round(n / steps, 2);
  return {
    rows_per_step: per(writes.ins + writes.upd),
    inserts_per_step: per(writes.ins),
    updates_per_step: per(writes.upd),
    deletes_per_step: per(writes.del),
    hot_updates_per_step: per(writes.hot),
    hot_pct: writes.upd > 0 ? round((writes.hot / writes.upd) * 100, 0) : null,
  };
}

export function base(cell: Cell, version: string, metric: string, better: 'higher' | 'lower'): Row {
  return {
    scenario: cell.scenario, system: cell.system, version, steps_per_s: null, p50_ms: null, p99_ms: null,
    commits_per_step: null, cpu_ms_per_1k_steps: null, peak_rss_mb: null, config: cell.config, mode: cell.mode,
    status: 'ok', metric, better,
  };
}

/** The row of a cell the system cannot run (its adapter said why). */
export function notApplicable(cell: Cell, version: string, metric: string, better: 'higher' | 'lower', reason: string, extra: Partial<Row> = {}): Row {
  return { ...base(cell, version, metric, better), ...extra, status: 'n/a', notes: `n/a: ${reason}` };
}

export { AdapterChild };
