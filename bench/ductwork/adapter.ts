/**
 * The ductwork adapter: runs the engine in this child process through the public API only
 * (`Ductwork.start`, `DuctworkClient`, `connect`, `migrate`, `resolveConfig`), like a user's app
 * would. It never reads the engine's tables (their layout is the engine's to change): what is
 * left to do comes from the client's `overview()` counts, asked only when the pipelines' last
 * steps say that everything may be done (or once a second as a backstop).
 *
 * Configs:
 * - default: every key at its default (job_worker.count 5, threads = CPUs, pool_size 10, 1 s polls).
 * - tuned:   job_worker.count = the cell's concurrency (64, the same in-flight bound the peers get),
 *            threads 2 (this box's cores), pool_size 10 (the same pool the peers get). Polling
 *            timeouts stay at their defaults, so idle cost is what a user gets.
 * Recovery cells use the same configs with job_worker.count = the in-flight count; reaping at
 * default timings is part of what is measured. The idle cell pins threads to 2 in both configs,
 * so its RSS is that of a 2-thread engine on any machine. The retention cell adds
 * `retention: { completed, halted, interval }`; an engine that rejects the key is reported n/a.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { Ductwork, DuctworkClient, DuctworkError, connect, migrate, resolveConfig, type Engine, type DuctworkOptions, type PipelineClass, type PipelineHandle } from '../../src/index.js';
import { chunks, runAdapter } from '../lib/harness.js';
import { pipelinesOf, stepsOf, type Spec, type Work, type WorkKind } from '../lib/protocol.js';
import { installTracing } from './tracing.js';
import { BenchChain, BenchDivide, BenchExpand, BenchSleep, BenchTraced, BenchWait, CHANNEL, MANY_PIPELINES, type Report } from './pipelines.js';

const SCHEMA = 'ductwork';
const APP = new URL('./pipelines.js', import.meta.url).href;
// The pipelines take different inputs; the bench triggers each with the input its first step takes.
const PIPELINES: Record<Exclude<WorkKind, 'many'>, PipelineClass<any, unknown>> = {
  chain: BenchChain, traced: BenchTraced, expand: BenchExpand, divide: BenchDivide, sleep: BenchSleep, wait: BenchWait,
};
/** How often `remaining` asks the engine even while the last steps say work is left (a backstop for lost reports). */
const BACKSTOP_MS = 1000;

function configFor(spec: Spec): DuctworkOptions {
  const threads = spec.threads ?? (spec.config === 'tuned' ? 2 : undefined);
  const count = spec.inflight ?? (spec.config === 'tuned' ? spec.concurrency : undefined);
  return {
    ...(count === undefined && threads === undefined ? {} : { job_worker: { ...(count === undefined ? {} : { count }), ...(threads === undefined ? {} : { threads }) } }),
    ...(spec.config === 'tuned' ? { database: { pool_size: spec.poolSize } } : {}),
    // Not in DuctworkOptions until the engine has retention: the engine itself says whether it knows the key.
    ...(spec.retention ? ({ retention: spec.retention } as object) : {}),
  };
}

/** Why the engine would reject this cell's configuration (today: retention keys it does not have), or undefined. */
function unsupported(options: DuctworkOptions): string | undefined {
  try {
    resolveConfig(options);
    return undefined;
  } catch (error) {
    if (error instanceof DuctworkError && error.code === 'config_invalid' && String((error.details as { key?: string } | undefined)?.key ?? '').startsWith('retention')) {
      return `engine has no retention (${error.message})`;
    }
    throw error;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${pkg.version}${process.env.BENCH_GIT_SHA ? `+${process.env.BENCH_GIT_SHA}` : ''}`;
}

/** Triggers `work` through `client`, 50 triggers at a time (each trigger is one transaction). */
async function trigger(client: DuctworkClient, work: Work): Promise<PipelineHandle[]> {
  const inputs: { klass: PipelineClass<any, unknown>; input: unknown }[] = [];
  for (let i = 0; i < pipelinesOf(work); i++) {
    const k = `${work.keyPrefix}-${i}`;
    const input = work.kind === 'traced' ? { k, i: 0 } : work.kind === 'expand' ? work.items : work.kind === 'sleep' ? { k, ms: work.ms } : { ok: true };
    inputs.push({ klass: PIPELINES[work.kind], input });
  }
  const handles: PipelineHandle[] = [];
  for (const batch of chunks(inputs, 50)) handles.push(...(await Promise.all(batch.map(({ klass, input }) => client.trigger(klass, input as never)))));
  return handles;
}

// The tracing cell: an OpenTelemetry SDK in this process, registered before the engine starts.
if (process.env.BENCH_OTEL === '1') {
  const sdk = await installTracing();
  // In the children's log: proof that the spans were made and exported.
  setInterval(() => process.stderr.write(`otel: ${sdk.exported()} spans exported\n`), 1000).unref();
}

runAdapter(async (spec, emit) => {
  const options = configFor(spec);
  let engine: Engine | undefined;
  let live: DuctworkClient | undefined;
  const client = (poolSize = 10) => new DuctworkClient({ databaseUrl: spec.dbUrl, schema: SCHEMA, poolSize });
  // What the last steps said, against what this process enqueued.
  let expectedLast = 0;
  let lastSeen = 0;
  let checkedAt = -Infinity;
  let cached: number | undefined;
  /** Statements run to count what is left (the runner subtracts them from the cell's commits). */
  let queries = 0;
  let watcher: DuctworkClient | undefined;
  // Capped cells report completed steps: completed pipelines since start × steps a pipeline (or a
  // small enqueue's own status reports). Large enqueues keep no handles (they would weigh in the RSS).
  let completedAtStart = 0;
  let enqueued: { work: Work; handles: PipelineHandle[] }[] = [];
  const keep = (work: Work, handles: PipelineHandle[]) => enqueued.push({ work, handles: handles.length <= 10 ? handles : [] });

  const channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (event) => {
    const message = (event as { data: Report }).data;
    if (message.last) lastSeen++;
    if ('entry' in message) emit(message.entry);
  };
  channel.unref();

  async function counts(): Promise<Record<string, number>> {
    watcher ??= client(2);
    queries += 2; // overview() runs two statements
    return (await watcher.overview(0)).counts;
  }

  return {
    version: version(),
    statsSchema: SCHEMA,
    unsupported: unsupported(options),
    async setup() {
      const sql = connect({ url: spec.dbUrl, schema: SCHEMA, max: 1 });
      await migrate(sql, SCHEMA);
      await sql.end();
      completedAtStart = (await counts()).completed ?? 0;
      queries = 0;
    },
    async enqueue(work, isLive) {
      expectedLast += pipelinesOf(work);
      if (isLive) {
        keep(work, await trigger((live ??= client()), work));
        return;
      }
      const once = client();
      keep(work, await trigger(once, work));
      await once.close();
    },
    async remaining() {
      const mayBeDone = lastSeen >= expectedLast;
      // Nothing enqueued here (a recovery survivor): the last steps cannot say, so ask at most every 250 ms.
      const every = expectedLast === 0 ? 250 : mayBeDone ? 0 : BACKSTOP_MS;
      if (cached === undefined || performance.now() - checkedAt >= every) {
        checkedAt = performance.now();
        cached = (await counts()).in_progress ?? 0;
        return { n: cached, queries };
      }
      return { n: mayBeDone ? cached : Math.max(1, expectedLast - lastSeen), queries };
    },
    get probeQueries() {
      return queries;
    },
    async start() {
      engine = await Ductwork.start({
        ...options,
        app: APP,
        pipelines: spec.uses.flatMap((kind) => (kind === 'many' ? MANY_PIPELINES : [PIPELINES[kind].name])),
        database: { ...options.database, url: spec.dbUrl, schema: SCHEMA },
        logger: { level: 'error' },
      });
    },
    async stop() {
      await engine?.stop();
      await live?.close();
      channel.close();
    },
    async completedSteps() {
      let steps = 0;
      const small = enqueued.filter((e) => e.handles.length > 0);
      for (const { handles } of small) {
        for (const handle of handles) {
          queries += 4; // status() runs four statements
          steps += (await handle.status()).steps.completed;
        }
      }
      const rest = enqueued.filter((e) => e.handles.length === 0);
      if (rest.length > 0) {
        const done = ((await counts()).completed ?? 0) - completedAtStart;
        const perPipeline = stepsOf(rest[0]!.work) / pipelinesOf(rest[0]!.work);
        steps += Math.max(0, done) * perPipeline;
      }
      await watcher?.close();
      enqueued = [];
      return steps;
    },
  };
});
