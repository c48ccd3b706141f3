// @ts-check
/**
 * DBOS Transact adapter (@dbos-inc/dbos-sdk 5.x), the peer closest to ductwork: durable workflows
 * checkpointed in PostgreSQL by a library inside the app's own process. The same work, written the
 * way a DBOS user would (docs: docs.dbos.dev, workflow and queue tutorials; the package README):
 *
 * - chain of 10: one workflow `chain` that runs 10 no-op steps in order (`DBOS.runStep`); each
 *   step is one checkpoint write, plus the workflow's own status writes.
 * - traced: the same with steps that report their entry and exit (latency).
 * - expand → collapse: workflow `expand` runs a step returning N items, starts one child workflow
 *   per item on the children's queue (`DBOS.startWorkflow`, one no-op step each), waits for them
 *   (`DBOS.waitAll`), reads their outputs in element order and runs a collapse step on all N —
 *   the same data flow as ductwork's (the other peers' collapse gets no outputs).
 * - divide 8 × 5 → combine: workflow `divide` runs a step, starts 8 child workflows of 5 steps,
 *   waits for them and runs a combine step on their 8 outputs.
 * - sleep: a workflow with one step that reports its entry and sleeps (recovery).
 * - many: 20 more queues (the many-pipelines cell), each with its own dispatch poll.
 * Parents and children use two queues, so parents waiting on their children cannot fill every
 * slot of the queue the children need (which would deadlock).
 * Work is enqueued through a `DBOSClient` (the split where a web process enqueues and workers run),
 * 50 enqueues at a time (one transaction each); pre-queued work goes in before `DBOS.launch()`.
 *
 * Configs (DBOSConfig, RegisterQueueOptions):
 * - default: `DBOS.setConfig({ name, systemDatabaseUrl })`, queues registered with no options:
 *            no concurrency limit, `minPollingIntervalMs` 1000 (1 s polls), pool 10.
 * - tuned:   `systemDatabasePoolSize` = the cell's pool (10); each queue `workerConcurrency` = the
 *            cell's concurrency (64 in flight, like the others) and `minPollingIntervalMs` 20
 *            (the knob for dispatch latency; DBOS queues have no LISTEN/NOTIFY wake-up, so the poll
 *            interval is the trigger → first step latency, and its idle cost).
 * Recovery cells run workerConcurrency = the in-flight count in both configs (without a limit the
 * default config would start the whole backlog at once). A restarted process with the same
 * executor ID (`local`, the default) re-enqueues that executor's unfinished workflows at launch;
 * a re-run is a step body the dead process had entered, entered again.
 */
import { DBOS, DBOSClient } from '@dbos-inc/dbos-sdk';
import { readFileSync } from 'node:fs';
import { chunks, runAdapter } from '../../dist/bench/lib/harness.js';
import { CHAIN_STEPS, LANES, LANE_STEPS, MANY_CLASSES, now } from '../../dist/bench/lib/protocol.js';

const VERSION = JSON.parse(readFileSync(new URL('../node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url), 'utf8')).version;
const APP = 'ductwork-bench';
const PARENTS = 'bench_parents';
const CHILDREN = 'bench_children';
const MANY = Array.from({ length: MANY_CLASSES }, (_, n) => `bench_many${String(n + 1).padStart(2, '0')}`);

runAdapter(async (spec, emit) => {
  const tuned = spec.config === 'tuned';
  let completed = 0;
  /** @type {DBOSClient | undefined} */
  let live;
  let launched = false;

  const noop = async () => {
    completed++;
    return { ok: true };
  };
  const step = (/** @type {() => Promise<any>} */ fn, /** @type {string} */ name) => DBOS.runStep(fn, { name });

  const chain = DBOS.registerWorkflow(async (/** @type {string} */ _k) => {
    for (let i = 0; i < CHAIN_STEPS; i++) await step(noop, 'noop');
    return { ok: true };
  }, { name: 'chain' });
  const traced = DBOS.registerWorkflow(async (/** @type {string} */ k) => {
    for (let i = 0; i < CHAIN_STEPS; i++) {
      await step(async () => {
        const t0 = now();
        emit({ k, i, t0, t1: now() });
        completed++;
        return i;
      }, 'traced');
    }
    return { ok: true };
  }, { name: 'traced' });
  const item = DBOS.registerWorkflow(async (/** @type {number} */ x) => step(async () => (completed++, x), 'item'), { name: 'item' });
  const expand = DBOS.registerWorkflow(async (/** @type {number} */ n) => {
    const items = await step(async () => (completed++, Array.from({ length: n }, (_, x) => x)), 'items');
    const handles = [];
    for (const x of items) handles.push(await DBOS.startWorkflow(item, { queueName: CHILDREN })(x));
    await DBOS.waitAll(handles);
    const outputs = [];
    for (const handle of handles) outputs.push(await handle.getResult());
    return step(async () => (completed++, outputs.length), 'collapse');
  }, { name: 'expand' });
  const lane = DBOS.registerWorkflow(async (/** @type {number} */ l) => {
    for (let i = 0; i < LANE_STEPS; i++) await step(noop, 'lane');
    return l;
  }, { name: 'lane' });
  const divide = DBOS.registerWorkflow(async () => {
    await step(noop, 'divide');
    const handles = [];
    for (let l = 0; l < LANES; l++) handles.push(await DBOS.startWorkflow(lane, { queueName: CHILDREN })(l));
    await DBOS.waitAll(handles);
    const outputs = [];
    for (const handle of handles) outputs.push(await handle.getResult());
    return step(async () => (completed++, outputs.length), 'combine');
  }, { name: 'divide' });
  const sleeper = DBOS.registerWorkflow(async (/** @type {string} */ k, /** @type {number} */ ms) => {
    await step(async () => {
      emit({ k, i: 0, t0: now() });
      await new Promise((resolve) => setTimeout(resolve, ms));
      completed++;
    }, 'sleep');
  }, { name: 'sleep' });
  void [chain, traced, expand, divide, sleeper];

  const concurrency = spec.inflight ?? (tuned ? spec.concurrency : undefined);
  const queueOptions = {
    ...(concurrency === undefined ? {} : { workerConcurrency: concurrency }),
    ...(tuned ? { minPollingIntervalMs: 20 } : {}),
    onConflict: /** @type {const} */ ('always_update'),
  };
  const queues = [PARENTS, ...(spec.uses.some((u) => u === 'expand' || u === 'divide') ? [CHILDREN] : []), ...(spec.uses.includes('many') ? MANY : [])];

  const newClient = () => DBOSClient.create({ systemDatabaseUrl: spec.dbUrl, systemDatabasePoolSize: 10 });
  /** The first workflows of `work`: [workflow name, args]. */
  const firstWorkflows = (/** @type {any} */ work) => {
    const n = work.kind === 'expand' ? 1 : work.pipelines;
    return Array.from({ length: n }, (_, i) => {
      const k = `${work.keyPrefix}-${i}`;
      if (work.kind === 'expand') return /** @type {[string, unknown[]]} */ (['expand', [work.items]]);
      if (work.kind === 'divide') return /** @type {[string, unknown[]]} */ (['divide', []]);
      if (work.kind === 'sleep') return /** @type {[string, unknown[]]} */ (['sleep', [k, work.ms]]);
      return /** @type {[string, unknown[]]} */ ([work.kind === 'traced' ? 'traced' : 'chain', [k]]);
    });
  };
  const enqueueAll = async (/** @type {DBOSClient} */ client, /** @type {any} */ work) => {
    for (const batch of chunks(firstWorkflows(work), 50)) {
      await Promise.all(batch.map(([workflowName, args]) => client.enqueue({ queueName: PARENTS, workflowName }, ...args)));
    }
  };

  DBOS.setConfig({
    name: APP,
    systemDatabaseUrl: spec.dbUrl,
    logLevel: 'error',
    ...(tuned ? { systemDatabasePoolSize: spec.poolSize } : {}),
  });

  return {
    version: VERSION,
    remainingSql: "select count(*)::int as n from dbos.workflow_status where status in ('ENQUEUED', 'PENDING', 'DELAYED')",
    statsSchema: 'dbos',
    async setup() {
      await DBOS.migrate(spec.dbUrl);
    },
    async enqueue(work, isLive) {
      if (isLive) return enqueueAll((live ??= await newClient()), work);
      const client = await newClient();
      await enqueueAll(client, work);
      await client.destroy();
    },
    async start() {
      await DBOS.launch();
      launched = true;
      for (const name of queues) await DBOS.registerQueue(name, queueOptions);
    },
    async stop() {
      await live?.destroy();
      if (launched) await DBOS.shutdown({ workflowCompletionTimeoutMS: 10_000 });
    },
    async completedSteps() {
      return completed;
    },
  };
});
