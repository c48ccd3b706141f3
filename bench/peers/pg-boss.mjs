// @ts-check
/**
 * pg-boss adapter: the same work as ductwork's pipelines, written the way a pg-boss user would
 * (reference/performance.md §6.4). One queue per kind of job (pg-boss 10+ needs createQueue).
 *
 * - chain of 10: the `step` handler does its no-op and then `boss.send('step', {i: i + 1})`,
 *   outside the job's completion transaction (at-least-once, like graphile's addJob).
 * - expand → collapse: `expand` inserts a counter row and `boss.insert('item', 10k jobs)`; each
 *   item decrements the counter (`UPDATE ... RETURNING remaining`, not in the completion
 *   transaction) and the one reaching 0 sends `collapse` (singletonKey). The collapse job gets
 *   no outputs (ductwork's collapse receives all 10k).
 * - divide 8 × 5 → combine: `divide` sends 8 `lane` chains of 5 and a counter; the last lane sends `combine`.
 * - pre-queued work goes in with `boss.insert()` in batches of 1,000, from a second instance
 *   that is stopped before the workers start.
 *
 * Configs (docs: pgboss.io api/workers, api/queues, api/constructor):
 * - default: `new PgBoss({max: 10})` and `work()` at its defaults: batchSize 1, localConcurrency 1,
 *            pollingIntervalSeconds 2, no LISTEN/NOTIFY; queues at their defaults (expireInSeconds 900).
 * - tuned:   useListenNotify + queue `notify: true`; work() with batchSize concurrency / 4,
 *            localConcurrency 4 (64 in flight, the cell's concurrency), pollingIntervalSeconds 0.5
 *            (the minimum), burstWhenBatchFull — the config measured in §7.
 * - recovery (tuned only): queue heartbeatSeconds 10 (the minimum) with superviseIntervalSeconds 1
 *   and monitorIntervalSeconds 1, so a dead worker's jobs are failed and retried after ~10–11 s;
 *   notifyPollingIntervalSeconds 0.5, because a retried job sends no NOTIFY and would otherwise
 *   wait for the 30 s notify-mode backstop poll.
 *   The default config relies on expireInSeconds (15 min).
 * In recovery cells every config runs the cell's in-flight count as one batch (batchSize = inflight).
 * The many-pipelines cell creates 20 queues with one `work()` each (a pg-boss user's 20 job kinds).
 */
import { PgBoss } from 'pg-boss';
import { readFileSync } from 'node:fs';
import { chunks, runAdapter } from '../../dist/bench/lib/harness.js';
import { CHAIN_STEPS, LANES, LANE_STEPS, MANY_CLASSES, now } from '../../dist/bench/lib/protocol.js';

const VERSION = JSON.parse(readFileSync(new URL('../node_modules/pg-boss/package.json', import.meta.url), 'utf8')).version;
const MANY = Array.from({ length: MANY_CLASSES }, (_, n) => `many${String(n + 1).padStart(2, '0')}`);
/** @type {Record<string, string[]>} the many-pipelines cell: 20 queues, each with its own worker. */
const QUEUES = { chain: ['step'], traced: ['step'], expand: ['expand', 'item', 'collapse'], divide: ['divide', 'lane', 'combine'], sleep: ['sleep'], many: MANY };

runAdapter(async (spec, emit) => {
  const tuned = spec.config === 'tuned';
  const recovery = tuned && spec.inflight !== undefined;
  const base = { connectionString: spec.dbUrl, max: spec.poolSize };
  const boss = new PgBoss({
    ...base,
    ...(tuned ? { useListenNotify: true } : {}),
    ...(recovery ? { superviseIntervalSeconds: 1, monitorIntervalSeconds: 1 } : {}),
  });
  boss.on('error', (error) => console.error('pg-boss error:', error.message));
  const queues = [...new Set(spec.uses.flatMap((kind) => QUEUES[kind]))];
  let completed = 0;

  /** @type {(work: any) => [string, object][]} */
  const firstJobs = (work) => {
    const n = work.kind === 'expand' ? 1 : work.pipelines;
    return Array.from({ length: n }, (_, i) => {
      const k = `${work.keyPrefix}-${i}`;
      if (work.kind === 'expand') return ['expand', { c: k, n: work.items }];
      if (work.kind === 'divide') return ['divide', { c: k }];
      if (work.kind === 'sleep') return ['sleep', { k, ms: work.ms }];
      return ['step', { k, i: 0, t: work.kind === 'traced' }];
    });
  };
  const sql = (/** @type {string} */ text, /** @type {unknown[]} */ values) => boss.getDb().executeSql(text, values);
  const arrive = async (/** @type {string} */ c, /** @type {string} */ into) => {
    const { rows } = await sql('update bench_counters set remaining = remaining - 1 where id = $1 returning remaining', [c]);
    if (rows[0].remaining === 0) await boss.send(into, { c }, { singletonKey: c });
  };

  /** @type {Record<string, (p: any) => Promise<void>>} */
  const handlers = {
    step: async (p) => {
      const t0 = now();
      if (p.t) emit({ k: p.k, i: p.i, t0, t1: now() });
      completed++;
      if (p.i + 1 < CHAIN_STEPS) await boss.send('step', { k: p.k, i: p.i + 1, t: p.t });
    },
    expand: async (p) => {
      completed++;
      await sql('insert into bench_counters (id, remaining) values ($1, $2) on conflict do nothing', [p.c, p.n]);
      await boss.insert('item', Array.from({ length: p.n }, (_, x) => ({ data: { c: p.c, x } })));
    },
    item: async (p) => {
      completed++;
      await arrive(p.c, 'collapse');
    },
    divide: async (p) => {
      completed++;
      await sql('insert into bench_counters (id, remaining) values ($1, $2) on conflict do nothing', [p.c, LANES]);
      await boss.insert('lane', Array.from({ length: LANES }, (_, l) => ({ data: { c: p.c, l, i: 0 } })));
    },
    lane: async (p) => {
      completed++;
      if (p.i + 1 < LANE_STEPS) await boss.send('lane', { c: p.c, l: p.l, i: p.i + 1 });
      else await arrive(p.c, 'combine');
    },
    collapse: async () => void completed++,
    combine: async () => void completed++,
    ...Object.fromEntries(MANY.map((name) => [name, async () => void completed++])),
    sleep: async (p) => {
      emit({ k: p.k, i: 0, t0: now() });
      await new Promise((resolve) => setTimeout(resolve, p.ms));
      completed++;
    },
  };

  const insertAll = async (/** @type {PgBoss} */ into, /** @type {any} */ work) => {
    const byQueue = Map.groupBy(firstJobs(work), ([queue]) => queue);
    for (const [queue, jobs] of byQueue) {
      for (const batch of chunks(jobs, 1000)) await into.insert(queue, batch.map(([, data]) => ({ data })));
    }
  };

  const workOptions = spec.inflight !== undefined
    ? { batchSize: spec.inflight, ...(tuned ? { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5 } : {}) }
    : tuned
      ? { batchSize: Math.max(1, Math.floor(spec.concurrency / 4)), localConcurrency: 4, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }
      : {};

  return {
    version: VERSION,
    remainingSql: "select count(*)::int as n from pgboss.job where state < 'completed'",
    statsSchema: 'pgboss',
    async setup() {
      await boss.start();
      for (const name of queues) {
        await boss.createQueue(name, { ...(tuned ? { notify: true } : {}), ...(recovery ? { heartbeatSeconds: 10 } : {}) });
      }
      await sql('create table if not exists bench_counters (id text primary key, remaining int not null)', []);
    },
    async enqueue(work, isLive) {
      if (isLive) return insertAll(boss, work);
      const producer = new PgBoss({ ...base, supervise: false, schedule: false, migrate: false });
      producer.on('error', (error) => console.error('pg-boss producer error:', error.message));
      await producer.start();
      await insertAll(producer, work);
      await producer.stop({ graceful: false });
    },
    async start() {
      for (const name of queues) {
        await boss.work(name, workOptions, async (jobs) => {
          await Promise.all(jobs.map((job) => handlers[name](job.data)));
        });
      }
    },
    async stop() {
      await boss.stop({ graceful: true, timeout: 10_000 });
    },
    async completedSteps() {
      return completed;
    },
  };
});
