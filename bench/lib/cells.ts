/**
 * One cell = one system × config × scenario, in a database of its own, with the system in a
 * child process. Each function here runs one scenario's phases and returns its result rows.
 */
import postgres from 'postgres';
import { AdapterChild } from './child.js';
import { backendsGone, cpuMs, memoryMb, Sampler, xacts } from './measure.js';
import { stepsOf, type ConfigName, type Entry, type Spec, type Work, type WorkKind } from './protocol.js';
import { percentile } from './stats.js';

type Sql = postgres.Sql<Record<string, never>>;

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
  status: 'ok' | 'capped' | 'failed';
  /** The row's primary metric (the one ratios are taken of) and which direction is better. */
  metric: string;
  better: 'higher' | 'lower';
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
  monitor: Sql;
  logFile: string;
  env: NodeJS.ProcessEnv;
}

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function spawn(cell: Cell, uses: WorkKind[], label = cell.system, inflight?: number): { child: AdapterChild; spec: Spec } {
  const child = new AdapterChild(cell.adapter, `${label}/${cell.config}/${cell.scenario}`, cell.logFile, cell.env);
  const spec: Spec = {
    system: cell.system, config: cell.config, scenario: cell.scenario, dbUrl: cell.dbUrl,
    concurrency: cell.concurrency, poolSize: cell.poolSize, uses, ...(inflight === undefined ? {} : { inflight }),
  };
  return { child, spec };
}

async function init(child: AdapterChild, spec: Spec): Promise<{ version: string; remainingSql: string }> {
  child.send({ cmd: 'init', spec });
  return child.wait('ready', 120_000, 'setup (migrations)');
}

/** A probe connection to the system's database; every query it runs is counted and later subtracted from the commits. */
class Probe {
  readonly sql: Sql;
  queries = 0;
  constructor(url: string, readonly remainingSql: string) {
    this.sql = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Sql;
  }
  async remaining(): Promise<number> {
    this.queries++;
    const [row] = await this.sql.unsafe(this.remainingSql);
    return Number(row!.n);
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
  end() {
    return this.sql.end({ timeout: 5 });
  }
}

/** A measured window over a child: its CPU, its peak RSS, the db's backends' CPU, and the commits before it. */
class Window {
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
async function running(cell: Cell, uses: WorkKind[], settleMs: number) {
  const { child, spec } = spawn(cell, uses);
  const { version, remainingSql } = await init(child, spec);
  child.send({ cmd: 'start' });
  await child.wait('started', 60_000, 'start');
  await sleep(settleMs);
  return { child, version, remainingSql };
}

/** VACUUM ANALYZE + CHECKPOINT before a measured window, on a connection closed before it opens. */
async function prepare(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} });
  await sql.unsafe('vacuum analyze');
  await sql.unsafe('checkpoint');
  await sql.end();
  await sleep(100);
}

/** Stops the child gracefully, waits for its backends to exit, and returns commits since `before`. */
async function finish(cell: Cell, child: AdapterChild, probe: Probe | undefined, before: { commit: number }): Promise<{ completed: number; commits: number }> {
  child.send({ cmd: 'stop' });
  const { completed } = await child.wait('stopped', 60_000, 'graceful stop');
  await child.exit();
  await probe?.end();
  await backendsGone(cell.monitor, cell.db);
  const after = await xacts(cell.monitor, cell.db);
  return { completed, commits: after.commit - before.commit - (probe?.queries ?? 0) };
}

function base(cell: Cell, version: string, metric: string, better: 'higher' | 'lower'): Row {
  return {
    scenario: cell.scenario, system: cell.system, version, steps_per_s: null, p50_ms: null, p99_ms: null,
    commits_per_step: null, cpu_ms_per_1k_steps: null, peak_rss_mb: null, config: cell.config, mode: cell.mode,
    status: 'ok', metric, better,
  };
}

/** Burn-down: everything pre-queued, then the workers start; steps/s = steps ÷ (start → last done). */
export async function burnDown(cell: Cell, work: Work, capMs: number): Promise<Row[]> {
  const { child, spec } = spawn(cell, [work.kind]);
  try {
    const { version, remainingSql } = await init(child, spec);
    child.send({ cmd: 'enqueue', work, live: false });
    const { ms: enqueueMs } = await child.wait('enqueued', 300_000, 'enqueue');
    await prepare(cell.dbUrl);
    const probe = new Probe(cell.dbUrl, remainingSql);
    const window = await Window.open(cell, child.pid);
    child.send({ cmd: 'start' });
    const { t0, ms: startMs } = await child.wait('started', 60_000, 'start');
    const done = await probe.untilDone(capMs);
    await window.close();
    const hwm = memoryMb(child.pid)?.hwm ?? null;
    const end = done ?? performance.timeOrigin + performance.now();
    const { completed, commits } = await finish(cell, child, probe, window.before);
    const total = stepsOf(work);
    const steps = done ? total : Math.max(0, completed);
    const seconds = (end - t0) / 1000;
    const row = base(cell, version, 'steps_per_s', 'higher');
    Object.assign(row, {
      steps_per_s: round(steps / seconds, 0),
      commits_per_step: round(commits / Math.max(1, steps), 2),
      cpu_ms_per_1k_steps: round((window.cpuMs / Math.max(1, steps)) * 1000, 0),
      peak_rss_mb: round(window.peakRssMb, 0),
      pg_cpu_ms_per_1k_steps: round((window.pgCpuMs / Math.max(1, steps)) * 1000, 0),
      e2e_ms: round(end - t0, 0),
      steps,
      startup_ms: round(startMs, 0),
      enqueue_ms: round(enqueueMs, 0),
      vm_hwm_mb: hwm === null ? null : round(hwm, 0),
    });
    if (!done) Object.assign(row, { status: 'capped', notes: `capped at ${capMs / 1000} s: ${steps} of ${total} steps done` });
    return [row];
  } finally {
    child.kill();
  }
}

/** Sequential traced chains at idle: trigger → first step, and step → step. */
export async function latency(cell: Cell, sizes: { pipelines: number; warmup: number; capMs: number }): Promise<Row[]> {
  const { child, version } = await running(cell, ['traced'], 1000);
  try {
    const window = await Window.open(cell, child.pid);
    child.send({ cmd: 'latency', ...sizes });
    const result = await child.wait('latency', sizes.capMs + 60_000, 'latency samples');
    await window.close();
    const { commits } = await finish(cell, child, undefined, window.before);
    if (result.pipelines === 0) throw new Error(`no traced chain finished within ${sizes.capMs / 1000} s`);
    const shared = {
      commits_per_step: round(commits / result.steps, 2),
      cpu_ms_per_1k_steps: round((window.cpuMs / result.steps) * 1000, 0),
      peak_rss_mb: round(window.peakRssMb, 0),
      pipelines: result.pipelines,
    };
    const capped = result.pipelines < sizes.pipelines ? { status: 'capped' as const, notes: `capped at ${sizes.capMs / 1000} s: ${result.pipelines} of ${sizes.pipelines} chains` } : {};
    const rows: Row[] = [];
    for (const [name, samples] of [['trigger → first step', result.trigger], ['step → step', result.step]] as const) {
      const row = base(cell, version, 'p50_ms', 'lower');
      Object.assign(row, shared, capped, {
        measure: name,
        samples: samples.length,
        p50_ms: round(percentile(samples, 50), 2),
        p99_ms: round(percentile(samples, 99), 2),
        max_ms: round(Math.max(...samples), 2),
      });
      rows.push(row);
    }
    return rows;
  } finally {
    child.kill();
  }
}

/**
 * kill -9 of a child holding `inflight` sleeping steps, then a fresh child at once: time from
 * the kill to the first orphan's body starting again, and to everything done (or the cap).
 */
export async function recovery(cell: Cell, sizes: { inflight: number; sleepMs: number; capMs: number }): Promise<Row[]> {
  const work: Work = { kind: 'sleep', pipelines: sizes.inflight, ms: sizes.sleepMs, keyPrefix: 'r' };
  const victim = spawn(cell, ['sleep'], `${cell.system}(victim)`, sizes.inflight);
  let survivor: ReturnType<typeof spawn> | undefined;
  try {
    const { version, remainingSql } = await init(victim.child, victim.spec);
    const held = new Set<string>();
    let allHeld!: () => void;
    const holding = new Promise<void>((resolve) => (allHeld = resolve));
    victim.child.onEntry = (e: Entry) => {
      held.add(e.k);
      if (held.size >= sizes.inflight) allHeld();
    };
    victim.child.send({ cmd: 'forward', on: true });
    victim.child.send({ cmd: 'enqueue', work, live: false });
    await victim.child.wait('enqueued', 120_000, 'enqueue');
    victim.child.send({ cmd: 'start' });
    await victim.child.wait('started', 60_000, 'start');
    const ok = await Promise.race([holding.then(() => true), sleep(sizes.sleepMs).then(() => false)]);
    if (!ok) throw new Error(`the victim held only ${held.size} of ${sizes.inflight} steps in flight within ${sizes.sleepMs} ms`);
    victim.child.kill();
    const killedAt = performance.timeOrigin + performance.now();
    await victim.child.exit();

    survivor = spawn(cell, ['sleep'], `${cell.system}(survivor)`, sizes.inflight);
    let firstAt: number | undefined;
    survivor.child.onEntry = (e: Entry) => {
      if (held.has(e.k)) firstAt ??= e.t0;
    };
    const before = await xacts(cell.monitor, cell.db);
    await init(survivor.child, survivor.spec);
    survivor.child.send({ cmd: 'forward', on: true });
    survivor.child.send({ cmd: 'start' });
    await survivor.child.wait('started', 60_000, 'start');
    const probe = new Probe(cell.dbUrl, remainingSql);
    const remainingAtKill = await probe.remaining();
    const doneAt = await probe.untilDone(Math.max(0, killedAt + sizes.capMs - (performance.timeOrigin + performance.now())));
    const lost = doneAt ? 0 : await probe.remaining();
    const rss = memoryMb(survivor.child.pid)?.rss ?? null;
    await finish(cell, survivor.child, probe, before);
    const row = base(cell, version, 'first_reclaim_ms', 'lower');
    Object.assign(row, {
      p50_ms: firstAt === undefined ? null : round(firstAt - killedAt, 0),
      first_reclaim_ms: firstAt === undefined ? null : round(firstAt - killedAt, 0),
      all_done_ms: doneAt === undefined ? null : round(doneAt - killedAt, 0),
      in_flight_at_kill: held.size,
      unfinished_at_kill: remainingAtKill,
      lost,
      peak_rss_mb: rss === null ? null : round(rss, 0),
    });
    if (!doneAt) {
      Object.assign(row, {
        status: 'capped',
        notes: `not recovered within the ${sizes.capMs / 1000} s cap: ${lost} of ${sizes.inflight} unfinished${firstAt === undefined ? ', no orphan re-claimed' : ''}`,
      });
    }
    return [row];
  } finally {
    victim.child.kill();
    survivor?.child.kill();
  }
}

/** The engine idle for `idleMs` (commits/s, CPU, RSS), then `loadSteps` steps, then RSS again. */
export async function idle(cell: Cell, sizes: { idleMs: number; loadPipelines: number; capMs: number }): Promise<Row[]> {
  const { child, version, remainingSql } = await running(cell, ['chain'], 2000);
  try {
    const idling = await Window.open(cell, child.pid);
    const t0 = performance.now();
    await sleep(sizes.idleMs);
    const seconds = (performance.now() - t0) / 1000;
    await idling.close();
    const x0 = idling.before;
    const x1 = await xacts(cell.monitor, cell.db);
    const idleRss = memoryMb(child.pid)!.rss;

    const probe = new Probe(cell.dbUrl, remainingSql);
    const work: Work = { kind: 'chain', pipelines: sizes.loadPipelines, keyPrefix: 'load' };
    const loading = await Window.open(cell, child.pid);
    const l0 = performance.timeOrigin + performance.now();
    child.send({ cmd: 'enqueue', work, live: true });
    await child.wait('enqueued', sizes.capMs, 'enqueue of the load');
    const done = await probe.untilDone(Math.max(1000, sizes.capMs - (performance.timeOrigin + performance.now() - l0)));
    const end = done ?? performance.timeOrigin + performance.now();
    await loading.close();
    await sleep(2000);
    const afterRss = memoryMb(child.pid)!.rss;
    const { completed, commits } = await finish(cell, child, probe, x1);
    const total = stepsOf(work);
    const steps = done ? total : Math.max(0, completed);
    const row = base(cell, version, 'idle_queries_per_s', 'lower');
    Object.assign(row, {
      steps_per_s: round(steps / ((end - l0) / 1000), 0),
      commits_per_step: round(commits / Math.max(1, steps), 2),
      cpu_ms_per_1k_steps: round((loading.cpuMs / Math.max(1, steps)) * 1000, 0),
      pg_cpu_ms_per_1k_steps: round((loading.pgCpuMs / Math.max(1, steps)) * 1000, 0),
      peak_rss_mb: round(Math.max(idling.peakRssMb, loading.peakRssMb), 0),
      idle_seconds: round(seconds, 1),
      idle_queries_per_s: round((x1.commit + x1.rollback - x0.commit - x0.rollback) / seconds, 1),
      idle_cpu_pct: round((idling.cpuMs / (seconds * 1000)) * 100, 2),
      idle_rss_mb: round(idleRss, 0),
      load_steps: steps,
      rss_after_load_mb: round(afterRss, 0),
      rss_growth_mb: round(afterRss - idleRss, 0),
    });
    if (!done) Object.assign(row, { status: 'capped', notes: `load capped at ${sizes.capMs / 1000} s: ${steps} of ${total} steps done` });
    return [row];
  } finally {
    child.kill();
  }
}
