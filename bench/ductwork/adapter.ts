/**
 * The ductwork adapter: runs the engine in this child process through the public API only
 * (`Ductwork.start`, `DuctworkClient`, `connect`, `migrate`), like a user's app would.
 *
 * Configs:
 * - default: every key at its default (job_worker.count 5, threads = CPUs, pool_size 10, 1 s polls).
 * - tuned:   job_worker.count = the cell's concurrency (64, the same in-flight bound the peers get),
 *            threads 2 (this box's cores), pool_size 10 (the same pool the peers get). Polling
 *            timeouts stay at their defaults, so idle cost is what a user gets.
 * Recovery cells use the same configs with job_worker.count = the in-flight count; reaping at
 * default timings is part of what is measured.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { Ductwork, DuctworkClient, connect, migrate, type Engine, type DuctworkOptions, type PipelineClass } from '../../src/index.js';
import { chunks, runAdapter } from '../lib/harness.js';
import type { Entry, Spec, Work, WorkKind } from '../lib/protocol.js';
import { BenchChain, BenchDivide, BenchExpand, BenchSleep, BenchTraced, CHANNEL } from './pipelines.js';

const SCHEMA = 'ductwork';
const APP = new URL('./pipelines.js', import.meta.url).href;
// The pipelines take different inputs; the bench triggers each with the input its first step takes.
const PIPELINES: Record<WorkKind, PipelineClass<any, unknown>> = {
  chain: BenchChain, traced: BenchTraced, expand: BenchExpand, divide: BenchDivide, sleep: BenchSleep,
};

function configFor(spec: Spec): DuctworkOptions {
  if (spec.config === 'default') return spec.inflight ? { job_worker: { count: spec.inflight } } : {};
  return { job_worker: { count: spec.inflight ?? spec.concurrency, threads: 2 }, database: { pool_size: spec.poolSize } };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${pkg.version}${process.env.BENCH_GIT_SHA ? `+${process.env.BENCH_GIT_SHA}` : ''}`;
}

/** Triggers `work` through `client`, 50 triggers at a time (each trigger is one transaction). */
async function trigger(client: DuctworkClient, work: Work): Promise<void> {
  const inputs: { klass: PipelineClass<any, unknown>; input: unknown }[] = [];
  const pipelines = work.kind === 'expand' ? 1 : work.pipelines;
  for (let i = 0; i < pipelines; i++) {
    const k = `${work.keyPrefix}-${i}`;
    const input = work.kind === 'traced' ? { k, i: 0 } : work.kind === 'expand' ? work.items : work.kind === 'sleep' ? { k, ms: work.ms } : { ok: true };
    inputs.push({ klass: PIPELINES[work.kind], input });
  }
  for (const batch of chunks(inputs, 50)) await Promise.all(batch.map(({ klass, input }) => client.trigger(klass, input as never)));
}

runAdapter(async (spec, emit) => {
  const channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (event) => emit((event as { data: Entry }).data);
  channel.unref();
  let engine: Engine | undefined;
  let live: DuctworkClient | undefined;
  const client = () => new DuctworkClient({ databaseUrl: spec.dbUrl, schema: SCHEMA, poolSize: 10 });
  return {
    version: version(),
    remainingSql: `select count(*)::int as n from "${SCHEMA}".runs where status = 'in_progress'`,
    async setup() {
      const sql = connect({ url: spec.dbUrl, schema: SCHEMA, max: 1 });
      await migrate(sql, SCHEMA);
      await sql.end();
    },
    async enqueue(work, isLive) {
      if (isLive) return trigger((live ??= client()), work);
      const once = client();
      await trigger(once, work);
      await once.close();
    },
    async start() {
      engine = await Ductwork.start({
        ...configFor(spec),
        app: APP,
        pipelines: spec.uses.map((kind) => PIPELINES[kind].name),
        database: { ...configFor(spec).database, url: spec.dbUrl, schema: SCHEMA },
        logger: { level: 'error' },
      });
    },
    async stop() {
      await engine?.stop();
      await live?.close();
      channel.close();
    },
    async completedSteps() {
      const sql = connect({ url: spec.dbUrl, schema: SCHEMA, max: 1 });
      const [row] = await sql`select count(*)::int as n from executions where outcome = 'success'`;
      await sql.end();
      return row!.n as number;
    },
  };
});
