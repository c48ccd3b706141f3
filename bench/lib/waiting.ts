/**
 * The waiting cell (ductwork only): what idle waiting runs cost. One engine, idle, then the
 * traced-chain latency; then `waiting` pipelines are parked on an event wait that never comes,
 * and the same idle window and latency are measured again beside them. A wait is a row, so
 * neither should move.
 */
import postgres from 'postgres';
import { base, finish, prepare, round, running, sleep, type Cell, type Row } from './cell.js';
import { xacts } from './measure.js';
import { percentile } from './stats.js';

export interface WaitingSizes {
  waiting: number;
  idleMs: number;
  latencyPipelines: number;
  capMs: number;
}

export async function waiting(cell: Cell, sizes: WaitingSizes): Promise<Row[]> {
  const { child, version, ready } = await running(cell, ['traced', 'wait'], 2000);
  const db = postgres(cell.dbUrl, { max: 1, fetch_types: false, onnotice: () => {} });
  try {
    const measure = async () => {
      const x0 = await xacts(cell.monitor, cell.db);
      const t0 = performance.now();
      await sleep(sizes.idleMs);
      const x1 = await xacts(cell.monitor, cell.db);
      const idlePerS = (x1.commit + x1.rollback - x0.commit - x0.rollback) / ((performance.now() - t0) / 1000);
      child.send({ cmd: 'latency', pipelines: sizes.latencyPipelines, warmup: 5, capMs: sizes.capMs });
      const result = await child.wait('latency', sizes.capMs + 60_000, 'latency samples');
      return { idlePerS, trigger: result.trigger as number[] };
    };
    const empty = await measure();
    const t0 = performance.now();
    child.send({ cmd: 'enqueue', work: { kind: 'wait', pipelines: sizes.waiting, keyPrefix: 'w' }, live: true });
    await child.wait('enqueued', sizes.capMs, 'enqueue of the waiting runs');
    const schema = ready.statsSchema ?? 'ductwork';
    for (;;) {
      const [row] = await db.unsafe(`select count(*)::int as n from "${schema}".jobs where kind = 'wait'`);
      if ((row!.n as number) >= sizes.waiting) break;
      if (performance.now() - t0 > sizes.capMs) throw new Error(`only ${row!.n} of ${sizes.waiting} runs were waiting after ${sizes.capMs / 1000} s`);
      await sleep(500);
    }
    const parkSeconds = (performance.now() - t0) / 1000;
    // What autovacuum would do on a production server (the shared one runs with it off).
    await prepare(cell.dbUrl, 'analyze');
    await sleep(2000);
    const loaded = await measure();
    await finish(cell, child, undefined, { commit: 0 });
    const row = base(cell, version, 'waiting_p99_ratio', 'lower');
    const p = (samples: number[], q: number) => round(percentile(samples, q), 2);
    Object.assign(row, {
      measure: 'trigger → first step',
      waiting_runs: sizes.waiting,
      park_seconds: round(parkSeconds, 1),
      idle_seconds: round(sizes.idleMs / 1000, 1),
      idle_xact_per_s_empty: round(empty.idlePerS, 1),
      idle_xact_per_s_waiting: round(loaded.idlePerS, 1),
      p50_ms_empty: p(empty.trigger, 50),
      p99_ms_empty: p(empty.trigger, 99),
      p50_ms: p(loaded.trigger, 50),
      p99_ms: p(loaded.trigger, 99),
      samples: loaded.trigger.length,
      waiting_p99_ratio: round(percentile(loaded.trigger, 99) / Math.max(0.01, percentile(empty.trigger, 99)), 2),
      idle_ratio: round(loaded.idlePerS / Math.max(0.1, empty.idlePerS), 2),
    });
    return [row];
  } finally {
    await db.end({ timeout: 5 });
    child.kill();
  }
}
