/**
 * The scenarios that run one child on an empty database: burn-down (throughput, expand, divide),
 * latency, idle and many-pipelines. Each function runs one cell's phases and returns its rows.
 */
import { base, finish, init, notApplicable, prepare, Probe, round, running, sleep, spawn, Window, writesPerStep, type Cell, type Row } from './cell.js';
import { memoryMb, rowWrites, xacts } from './measure.js';
import { CHAIN_STEPS, stepsOf, type Entry, type Work, type WorkKind } from './protocol.js';
import { percentile } from './stats.js';

export type { Cell, Row } from './cell.js';

export interface BurnDownOptions {
  /** When statistics are taken: after the work is queued (the default) or before (nothing pending). */
  analyze?: 'pending' | 'idle';
  /** Kinds to register besides the work's own (the history cell's latency probe needs `traced`). */
  alsoUses?: WorkKind[];
  /** After the burn-down, this many traced chains one at a time: trigger → first step at idle. */
  latencyAfter?: { pipelines: number; capMs: number };
}

/** Burn-down: everything pre-queued, then the workers start; steps/s = steps ÷ (start → last done). */
export async function burnDown(cell: Cell, work: Work, capMs: number, options: BurnDownOptions = {}): Promise<Row[]> {
  const { child, spec } = spawn(cell, [work.kind, ...(options.alsoUses ?? [])]);
  try {
    const ready = await init(child, spec);
    if (options.analyze === 'idle') await prepare(cell.dbUrl);
    const writes = ready.statsSchema ? { schema: ready.statsSchema, at: await rowWrites(cell.dbUrl, ready.statsSchema) } : undefined;
    child.send({ cmd: 'enqueue', work, live: false });
    const { ms: enqueueMs } = await child.wait('enqueued', 300_000, 'enqueue');
    await prepare(cell.dbUrl, options.analyze === 'idle' ? 'select 1' : 'vacuum analyze');
    const probe = new Probe(child, cell.dbUrl, ready.remainingSql);
    const window = await Window.open(cell, child.pid);
    child.send({ cmd: 'start' });
    const { t0, ms: startMs } = await child.wait('started', 60_000, 'start');
    const done = await probe.untilDone(capMs);
    await window.close();
    const hwm = memoryMb(child.pid)?.hwm ?? null;
    const end = done ?? performance.timeOrigin + performance.now();
    let claim: { samples: number[]; pipelines: number } | undefined;
    if (options.latencyAfter && done) {
      child.send({ cmd: 'latency', pipelines: options.latencyAfter.pipelines, warmup: 1, capMs: options.latencyAfter.capMs });
      const result = await child.wait('latency', options.latencyAfter.capMs + 60_000, 'latency samples');
      claim = { samples: result.trigger, pipelines: result.pipelines };
    }
    const { completed, commits, writes: written } = await finish(cell, child, probe, window.before, writes);
    const total = stepsOf(work);
    const steps = done ? total : Math.max(0, completed);
    const seconds = (end - t0) / 1000;
    const row = base(cell, ready.version, 'steps_per_s', 'higher');
    // Row writes include the trigger's and the latency probe's (a few hundred rows at most).
    const allSteps = steps + (claim ? (claim.pipelines + 1) * CHAIN_STEPS : 0);
    Object.assign(row, {
      steps_per_s: round(steps / seconds, 0),
      commits_per_step: round(commits / Math.max(1, allSteps), 2),
      ...writesPerStep(written, allSteps),
      cpu_ms_per_1k_steps: round((window.cpuMs / Math.max(1, steps)) * 1000, 0),
      peak_rss_mb: round(window.peakRssMb, 0),
      pg_cpu_ms_per_1k_steps: round((window.pgCpuMs / Math.max(1, steps)) * 1000, 0),
      e2e_ms: round(end - t0, 0),
      steps,
      startup_ms: round(startMs, 0),
      enqueue_ms: round(enqueueMs, 0),
      vm_hwm_mb: hwm === null ? null : round(hwm, 0),
      ...(claim
        ? { claim_p50_ms: round(percentile(claim.samples, 50), 2), claim_p99_ms: round(percentile(claim.samples, 99), 2), claim_samples: claim.samples.length }
        : {}),
    });
    if (!done) Object.assign(row, { status: 'capped', notes: `capped at ${capMs / 1000} s: ${steps} of ${total} steps done` });
    return [row];
  } finally {
    child.kill();
  }
}

/** Sequential traced chains at idle: trigger → first step, and step → step. */
export async function latency(cell: Cell, sizes: { pipelines: number; warmup: number; capMs: number }): Promise<Row[]> {
  const { child, version, ready, writes } = await running(cell, ['traced'], 1000);
  try {
    const window = await Window.open(cell, child.pid);
    child.send({ cmd: 'latency', ...sizes });
    const result = await child.wait('latency', sizes.capMs + 60_000, 'latency samples');
    await window.close();
    const { commits, writes: written } = await finish(cell, child, undefined, window.before, writes && { schema: ready.statsSchema!, at: writes });
    if (result.pipelines === 0) throw new Error(`no traced chain finished within ${sizes.capMs / 1000} s`);
    // Row writes cover the warm-up chains too.
    const shared = {
      commits_per_step: round(commits / result.steps, 2),
      ...writesPerStep(written, result.steps + sizes.warmup * CHAIN_STEPS),
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
 * The engine idle for `idleMs` (commits/s, CPU, RSS at start and at the end), then
 * `loadPipelines` chains while it runs, then RSS again 2 s after they finished. Engines with
 * worker threads run 2 (the RSS target is for 2 threads).
 */
export async function idle(cell: Cell, sizes: { idleMs: number; loadPipelines: number; capMs: number }): Promise<Row[]> {
  const { child, version, ready } = await running(cell, ['chain'], 2000, { threads: 2 });
  try {
    const startRss = memoryMb(child.pid)!.rss;
    const idling = await Window.open(cell, child.pid);
    const t0 = performance.now();
    await sleep(sizes.idleMs);
    const seconds = (performance.now() - t0) / 1000;
    await idling.close();
    const x0 = idling.before;
    const x1 = await xacts(cell.monitor, cell.db);
    const idleRss = memoryMb(child.pid)!.rss;

    // Row writes are those of the load only (its triggers included): the idle phase writes heartbeats.
    const writes = ready.statsSchema ? { schema: ready.statsSchema, at: await rowWrites(cell.dbUrl, ready.statsSchema) } : undefined;
    const probe = new Probe(child, cell.dbUrl, ready.remainingSql);
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
    const { completed, commits, writes: written } = await finish(cell, child, probe, x1, writes);
    const total = stepsOf(work);
    const steps = done ? total : Math.max(0, completed);
    const row = base(cell, version, 'idle_queries_per_s', 'lower');
    Object.assign(row, {
      steps_per_s: round(steps / ((end - l0) / 1000), 0),
      commits_per_step: round(commits / Math.max(1, steps), 2),
      ...writesPerStep(written, steps),
      cpu_ms_per_1k_steps: round((loading.cpuMs / Math.max(1, steps)) * 1000, 0),
      pg_cpu_ms_per_1k_steps: round((loading.pgCpuMs / Math.max(1, steps)) * 1000, 0),
      peak_rss_mb: round(Math.max(idling.peakRssMb, loading.peakRssMb), 0),
      idle_seconds: round(seconds, 1),
      idle_queries_per_s: round((x1.commit + x1.rollback - x0.commit - x0.rollback) / seconds, 1),
      idle_cpu_pct: round((idling.cpuMs / (seconds * 1000)) * 100, 2),
      start_rss_mb: round(startRss, 0),
      idle_rss_mb: round(idleRss, 0),
      load_steps: steps,
      rss_after_load_mb: round(afterRss, 0),
      rss_growth_mb: round(afterRss - idleRss, 0),
      threads: 2,
    });
    if (!done) Object.assign(row, { status: 'capped', notes: `load capped at ${sizes.capMs / 1000} s: ${steps} of ${total} steps done` });
    return [row];
  } finally {
    child.kill();
  }
}

/** Transactions per second of an idle child serving `uses` for `idleMs`, after a 2 s settle. */
async function idleXacts(cell: Cell, uses: WorkKind[], idleMs: number): Promise<{ perS: number; version: string; unsupported?: string }> {
  const { child, version, ready } = await running(cell, uses, 2000);
  try {
    const x0 = await xacts(cell.monitor, cell.db);
    const t0 = performance.now();
    await sleep(idleMs);
    const x1 = await xacts(cell.monitor, cell.db);
    const seconds = (performance.now() - t0) / 1000;
    await finish(cell, child, undefined, x0);
    return { perS: (x1.commit + x1.rollback - x0.commit - x0.rollback) / seconds, version, ...(ready.unsupported ? { unsupported: ready.unsupported } : {}) };
  } finally {
    child.kill();
  }
}

/**
 * Idle cost against the number of kinds of work served: one engine serving one chain pipeline
 * class, then one serving 20 (the same database), each idle for `idleMs`.
 */
export async function manyPipelines(cell: Cell, sizes: { idleMs: number }): Promise<Row[]> {
  const one = await idleXacts(cell, ['chain'], sizes.idleMs);
  if (one.unsupported) return [notApplicable(cell, one.version, 'many_ratio', 'lower', one.unsupported)];
  const twenty = await idleXacts(cell, ['many'], sizes.idleMs);
  const row = base(cell, one.version, 'many_ratio', 'lower');
  Object.assign(row, {
    idle_seconds: round(sizes.idleMs / 1000, 1),
    one_class_xact_per_s: round(one.perS, 1),
    many_classes_xact_per_s: round(twenty.perS, 1),
    classes: 20,
    many_ratio: round(twenty.perS / Math.max(0.1, one.perS), 2),
  });
  return [row];
}

export type { Entry };
