// @ts-check
/**
 * graphile-worker adapter: the same work as ductwork's pipelines, written the way a
 * graphile-worker user would (reference/performance.md §6.4).
 *
 * - chain of 10: task `step` does its no-op and then `helpers.addJob('step', {i: i + 1})`.
 *   The successor is added in its own transaction, before this job's completion commits
 *   (at-least-once: a crash in between re-runs the job and may add the successor twice).
 * - expand → collapse: task `expand` inserts a counter row and `addJobs()` 10k `item` jobs;
 *   each item runs `UPDATE bench_counters SET remaining = remaining - 1 ... RETURNING`, and the
 *   one reaching 0 adds `collapse` (with a jobKey). The decrement is not in the completion
 *   transaction either, and the collapse job gets no outputs (ductwork's collapse gets all 10k).
 * - divide 8 × 5 → combine: `divide` adds 8 `lane` chains of 5 and a counter; the last lane adds `combine`.
 * - pre-queued work goes in with `workerUtils.addJobs()` in batches of 1,000.
 *
 * Configs (docs: worker.graphile.org/docs/performance, the options' own doc comments):
 * - default: `run()` with its defaults (concurrency 1, pool 10, pollInterval 2 s, LISTEN/NOTIFY).
 * - tuned:   concurrency = the cell's (64), maxPoolSize 10, localQueue {size: concurrency + 1}
 *            ("a good starting point is often concurrentJobs + 1"), completeJobBatchDelay 0 and
 *            failJobBatchDelay 0 (batched completions), useNodeTime, pollInterval 100 ms — the
 *            config measured in §7. Batched completion means a kill can re-run finished jobs.
 * Recovery cells run concurrency = the in-flight count in both configs. OSS graphile-worker releases a killed worker's locked jobs only after 4 hours
 * (Worker Pro adds heartbeats; not available to us), so the cell reports what happens within its cap.
 */
import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';
import { readFileSync } from 'node:fs';
import { chunks, runAdapter } from '../../dist/bench/lib/harness.js';
import { CHAIN_STEPS, LANES, LANE_STEPS, MANY_CLASSES, now } from '../../dist/bench/lib/protocol.js';

const VERSION = JSON.parse(readFileSync(new URL('../node_modules/graphile-worker/package.json', import.meta.url), 'utf8')).version;
const silent = new Logger(() => () => {});

runAdapter(async (spec, emit) => {
  const connectionString = spec.dbUrl;
  const tuned = spec.config === 'tuned';
  let completed = 0;
  /** @type {import('graphile-worker').Runner | undefined} */
  let runner;
  /** @type {import('graphile-worker').WorkerUtils | undefined} */
  let live;

  /** @type {(p: any) => any[]} */
  const firstJobs = (work) => {
    const n = work.kind === 'expand' ? 1 : work.pipelines;
    return Array.from({ length: n }, (_, i) => {
      const k = `${work.keyPrefix}-${i}`;
      if (work.kind === 'expand') return { identifier: 'expand', payload: { c: k, n: work.items } };
      if (work.kind === 'divide') return { identifier: 'divide', payload: { c: k } };
      if (work.kind === 'sleep') return { identifier: 'sleep', payload: { k, ms: work.ms } };
      return { identifier: 'step', payload: { k, i: 0, t: work.kind === 'traced' } };
    });
  };

  /** Counter decrement; the caller that reaches 0 adds the fan-in job. */
  const arrive = async (/** @type {any} */ helpers, /** @type {string} */ c, /** @type {string} */ into) => {
    const { rows } = await helpers.query('update bench_counters set remaining = remaining - 1 where id = $1 returning remaining', [c]);
    if (rows[0].remaining === 0) await helpers.addJob(into, { c }, { jobKey: `${into}:${c}` });
  };

  /** @type {import('graphile-worker').TaskList} */
  const taskList = {
    step: async (/** @type {any} */ p, helpers) => {
      const t0 = now();
      if (p.t) emit({ k: p.k, i: p.i, t0, t1: now() });
      completed++;
      if (p.i + 1 < CHAIN_STEPS) await helpers.addJob('step', { k: p.k, i: p.i + 1, t: p.t });
    },
    expand: async (/** @type {any} */ p, helpers) => {
      completed++;
      await helpers.query('insert into bench_counters (id, remaining) values ($1, $2) on conflict do nothing', [p.c, p.n]);
      await helpers.addJobs(Array.from({ length: p.n }, (_, x) => ({ identifier: 'item', payload: { c: p.c, x } })));
    },
    item: async (/** @type {any} */ p, helpers) => {
      completed++;
      await arrive(helpers, p.c, 'collapse');
    },
    divide: async (/** @type {any} */ p, helpers) => {
      completed++;
      await helpers.query('insert into bench_counters (id, remaining) values ($1, $2) on conflict do nothing', [p.c, LANES]);
      await helpers.addJobs(Array.from({ length: LANES }, (_, l) => ({ identifier: 'lane', payload: { c: p.c, l, i: 0 } })));
    },
    lane: async (/** @type {any} */ p, helpers) => {
      completed++;
      if (p.i + 1 < LANE_STEPS) await helpers.addJob('lane', { c: p.c, l: p.l, i: p.i + 1 });
      else await arrive(helpers, p.c, 'combine');
    },
    collapse: async () => void completed++,
    combine: async () => void completed++,
    // The many-pipelines cell: 20 more task identifiers (one worker polls for all of them).
    ...(spec.uses.includes('many') ? Object.fromEntries(Array.from({ length: MANY_CLASSES }, (_, n) => [`many${n + 1}`, async () => void completed++])) : {}),
    sleep: async (/** @type {any} */ p) => {
      emit({ k: p.k, i: 0, t0: now() });
      await new Promise((resolve) => setTimeout(resolve, p.ms));
      completed++;
    },
  };

  const enqueue = async (/** @type {import('graphile-worker').WorkerUtils} */ utils, /** @type {any} */ work) => {
    for (const batch of chunks(firstJobs(work), 1000)) await utils.addJobs(batch);
  };

  return {
    version: VERSION,
    remainingSql: 'select count(*)::int as n from graphile_worker._private_jobs',
    statsSchema: 'graphile_worker',
    async setup() {
      await runMigrations({ connectionString, logger: silent });
      const utils = await makeWorkerUtils({ connectionString, logger: silent });
      await utils.withPgClient((client) => client.query('create table if not exists bench_counters (id text primary key, remaining int not null)'));
      await utils.release();
    },
    async enqueue(work, isLive) {
      if (isLive) return enqueue((live ??= await makeWorkerUtils({ connectionString, logger: silent })), work);
      const utils = await makeWorkerUtils({ connectionString, logger: silent });
      await enqueue(utils, work);
      await utils.release();
    },
    async start() {
      runner = await run({
        connectionString,
        taskList,
        logger: silent,
        noHandleSignals: true,
        maxPoolSize: spec.poolSize,
        ...(spec.inflight !== undefined ? { concurrency: spec.inflight } : {}),
        ...(tuned
          ? {
              concurrency: spec.inflight ?? spec.concurrency,
              useNodeTime: true,
              pollInterval: 100,
              preset: { worker: { localQueue: { size: spec.concurrency + 1 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
            }
          : {}),
      });
    },
    async stop() {
      await runner?.stop();
      await live?.release();
    },
    async completedSteps() {
      return completed;
    },
  };
});
