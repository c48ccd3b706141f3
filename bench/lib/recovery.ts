/**
 * Recovery after `kill -9`: a child holding `inflight` sleeping steps is killed and a fresh one
 * starts at once. Measured from the kill: the first and the last of the dead child's steps to run
 * again, everything done, and what was lost. The backlog variant queues `backlog` more sleeping
 * pipelines (shorter sleeps) behind the in-flight ones, so a re-run that loses its place in the
 * queue waits for the backlog to drain (issue 12).
 */
import { base, finish, init, Probe, round, sleep, spawn, type Cell, type Row } from './cell.js';
import { memoryMb, xacts } from './measure.js';
import type { Entry, Work } from './protocol.js';

export interface RecoverySizes {
  inflight: number;
  sleepMs: number;
  capMs: number;
  /** Ready pipelines queued behind the in-flight ones (0: none). */
  backlog: number;
  /** How long each backlog step sleeps. */
  backlogMs: number;
}

export async function recovery(cell: Cell, sizes: RecoverySizes): Promise<Row[]> {
  const works: Work[] = [{ kind: 'sleep', pipelines: sizes.inflight, ms: sizes.sleepMs, keyPrefix: 'r' }];
  if (sizes.backlog > 0) works.push({ kind: 'sleep', pipelines: sizes.backlog, ms: sizes.backlogMs, keyPrefix: 'b' });
  const extra = { inflight: sizes.inflight };
  const victim = spawn(cell, ['sleep'], `${cell.system}(victim)`, extra);
  let survivor: ReturnType<typeof spawn> | undefined;
  try {
    const ready = await init(victim.child, victim.spec);
    const held = new Set<string>();
    let allHeld!: () => void;
    const holding = new Promise<void>((resolve) => (allHeld = resolve));
    victim.child.onEntry = (e: Entry) => {
      held.add(e.k);
      if (held.size >= sizes.inflight) allHeld();
    };
    victim.child.send({ cmd: 'forward', on: true });
    for (const work of works) {
      victim.child.send({ cmd: 'enqueue', work, live: false });
      await victim.child.wait('enqueued', 300_000, 'enqueue');
    }
    victim.child.send({ cmd: 'start' });
    await victim.child.wait('started', 60_000, 'start');
    const ok = await Promise.race([holding.then(() => true), sleep(sizes.sleepMs).then(() => false)]);
    if (!ok) throw new Error(`the victim held only ${held.size} of ${sizes.inflight} steps in flight within ${sizes.sleepMs} ms`);
    victim.child.kill();
    const killedAt = performance.timeOrigin + performance.now();
    await victim.child.exit();

    // A re-run: ductwork says so itself (execution.crashCount ≥ 1); for the peers, a step whose
    // body the victim had entered, entered again.
    survivor = spawn(cell, ['sleep'], `${cell.system}(survivor)`, extra);
    const reruns = new Map<string, number>();
    survivor.child.onEntry = (e: Entry) => {
      const rerun = e.c !== undefined ? e.c >= 1 : held.has(e.k);
      if (rerun && !reruns.has(e.k)) reruns.set(e.k, e.t0);
    };
    const before = await xacts(cell.monitor, cell.db);
    await init(survivor.child, survivor.spec);
    survivor.child.send({ cmd: 'forward', on: true });
    survivor.child.send({ cmd: 'start' });
    await survivor.child.wait('started', 60_000, 'start');
    const probe = new Probe(survivor.child, cell.dbUrl, ready.remainingSql);
    const remainingAtStart = await probe.remaining();
    const doneAt = await probe.untilDone(Math.max(0, killedAt + sizes.capMs - (performance.timeOrigin + performance.now())));
    const lost = doneAt ? 0 : await probe.remaining();
    const rss = memoryMb(survivor.child.pid)?.rss ?? null;
    await finish(cell, survivor.child, probe, before);

    const times = [...reruns.values()];
    const firstAt = times.length ? Math.min(...times) : undefined;
    const lastAt = times.length ? Math.max(...times) : undefined;
    const notRerun = [...held].filter((k) => !reruns.has(k)).length;
    const backlog = sizes.backlog > 0;
    const metric = backlog ? 'last_rerun_ms' : 'first_reclaim_ms';
    const row = base(cell, ready.version, metric, 'lower');
    const since = (t: number | undefined) => (t === undefined ? null : round(t - killedAt, 0));
    Object.assign(row, {
      scenario: 'recovery',
      measure: backlog ? `backlog ${sizes.backlog.toLocaleString('en-US')}` : 'in flight only',
      p50_ms: since(firstAt),
      first_reclaim_ms: since(firstAt),
      last_rerun_ms: since(lastAt),
      all_done_ms: doneAt === undefined ? null : round(doneAt - killedAt, 0),
      in_flight_at_kill: held.size,
      reruns: reruns.size,
      not_rerun: notRerun,
      unfinished_after_restart: remainingAtStart,
      backlog: sizes.backlog,
      backlog_ms: backlog ? sizes.backlogMs : null,
      lost,
      peak_rss_mb: rss === null ? null : round(rss, 0),
    });
    if (!doneAt) {
      Object.assign(row, {
        status: 'capped',
        notes: `not recovered within the ${sizes.capMs / 1000} s cap: ${lost} unfinished, ${notRerun} of ${held.size} in-flight steps not re-run${firstAt === undefined ? ', no orphan re-claimed' : ''}`,
      });
    }
    return [row];
  } finally {
    victim.child.kill();
    survivor?.child.kill();
  }
}
