import { DuctworkClient } from '../client/client.js';
import { peekDefaultClient, setDefaultClient } from '../client/default-client.js';
import { checkAppSettings } from '../config/app-settings.js';
import { resolveConfig, settingFor, type DuctworkConfig, type DuctworkOptions } from '../config/config.js';
import { checkConnection, connect, engineLimits, redactUrl, type Sql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { crashClaims, openClaimsOf } from '../db/queries/jobs.js';
import { assertMigrated } from '../db/migrate.js';
import { getTuple, setTuple } from '../db/queries/tuples.js';
import { ConfigError, ContextError, DuctworkError } from '../errors.js';
import { contextOverwriteError, type StepClass } from '../definition/step.js';
import { createLogger, type Logger } from '../log.js';
import { engineGauges, queueGauges } from '../db/queries/metric-reads.js';
import { EngineMetrics } from '../observe/metrics.js';
import { EngineObserver } from '../observe/observer.js';
import type { ContextRequest } from '../../workers/protocol.js';
import { Advancer } from './advancer.js';
import { DefinitionCache } from './definition-cache.js';
import { loadAppModule, selectPipelines } from './app-module.js';
import { runHook, type HookInfo, type LifecycleHooks } from './hooks.js';
import { JobWorker } from './job-worker.js';
import { WakeupListener } from './listener.js';
import { ProcessLiveness } from './liveness.js';
import { crashDecision } from './budgets.js';
import { Reaper } from './reaper.js';
import { RetentionCleaner } from './cleaner.js';
import { Scheduler } from './scheduler.js';
import { checkSchedules } from './cron.js';
import { storeDefinition } from '../client/enqueue-trigger.js';
import { workerThreadStacks } from './thread-dump.js';
import { StepThreadPool, threadCount } from './thread-pool.js';
import { Wakeups } from './wakeups.js';

/** Options of {@link Ductwork.start}: configuration keys plus a logger to use instead of the default. */
export interface StartOptions extends DuctworkOptions {
  log?: Logger;
  /** Lifecycle hooks, run in addition to those the app module exports as `hooks`. */
  hooks?: LifecycleHooks;
}

/**
 * A running engine (threaded mode): one process, one job worker loop and one set of advancer
 * loops serving every pipeline it runs, one Piscina pool running steps, one postgres.js pool.
 * Create it with {@link Ductwork.start}; call `stop()` on shutdown.
 */
export class Engine {
  readonly config: DuctworkConfig;
  readonly processId = uuidv7();
  readonly log: Logger;
  #sql: Sql | undefined;
  #client: DuctworkClient | undefined;
  #pool: StepThreadPool | undefined;
  #jobWorker: JobWorker | undefined;
  #advancers: Advancer[] = [];
  #cleaner: RetentionCleaner | undefined;
  #scheduler: Scheduler | undefined;
  #pipelines: string[] = [];
  #liveness: ProcessLiveness | undefined;
  #reaper: Reaper | undefined;
  #listener: WakeupListener | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #metrics: EngineMetrics | undefined;
  #stopped: Promise<void> | undefined;

  readonly #hooks: LifecycleHooks[] = [];

  constructor(config: DuctworkConfig, log?: Logger, hooks?: LifecycleHooks) {
    this.config = config;
    this.log = log ?? createLogger(config.logger.level, 'ductwork', config.logger.format);
    if (hooks) this.#hooks.push(hooks);
  }

  /** Names of the pipelines this engine runs. */
  get pipelines(): readonly string[] {
    return this.#pipelines;
  }

  /**
   * The engine's Prometheus metrics: serve them with `createMetricsHandler(engine.metrics)`, or
   * `scrape()` them yourself. Counters count this process's work; gauges are read at each scrape.
   */
  get metrics(): EngineMetrics {
    if (!this.#metrics) throw new DuctworkError('engine_state', 'The engine is not running.');
    return this.#metrics;
  }

  /** A client sharing the engine's pool (trigger, status, wait). */
  get client(): DuctworkClient {
    if (!this.#client) throw new DuctworkError('engine_state', 'The engine is not running.');
    return this.#client;
  }

  /** Connects, checks the schema, loads the app module and starts every loop. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new DuctworkError('engine_state', `Engine.start() called twice (state: ${this.#state}).`);
    this.#state = 'starting';
    const { config, log } = this;
    const url = config.database.url ?? process.env.DATABASE_URL;
    if (!url) {
      throw new ConfigError('config_invalid', 'database.url is not set and DATABASE_URL is empty: Ductwork needs a PostgreSQL database.', {
        details: { key: 'database.url' },
      });
    }
    const app = await loadAppModule(config.app);
    if (app.hooks) this.#hooks.unshift(app.hooks);
    const pipelines = selectPipelines(app, config.pipelines);
    checkAppSettings(config, app.pipelines);
    const scheduler = config.role === 'worker' ? undefined : (sqlOf: Sql) => new Scheduler({ sql: sqlOf, config, log: log.child('scheduler'), pipelines });
    if (config.role !== 'worker') for (const p of pipelines) checkSchedules(p.name, p.schedules); // fails before connecting
    // Sessions of this process: the pool (database.pool_size), the liveness connection and the
    // LISTEN connection, all named after the process; none is ever swapped for another.
    const sql = connect({
      url, schema: config.database.schema, max: config.database.pool_size, applicationName: `ductwork-engine ${this.processId}`,
      ...engineLimits(config.database.call_timeout),
    });
    this.#sql = sql;
    const liveness = new ProcessLiveness({
      url, schema: config.database.schema, processId: this.processId, role: config.role === 'all' ? 'supervisor' : config.role,
      threads: config.role === 'advancer' ? 0 : threadCount(config.job_worker.threads),
      log: log.child('supervisor'), intervalSeconds: config.supervisor.polling_timeout,
    });
    try {
      await checkConnection(sql, url);
      await assertMigrated(sql, config.database.schema);
      await liveness.start();
      // Definitions are stored up front, so SQL triggers (trigger_pipeline) and schedules can use them.
      // Every class of the app, not only those run here: a child pipeline is triggered by its parent's engine.
      for (const p of app.pipelines) await storeDefinition(sql, p.definition as never, p.name);
      this.#scheduler = scheduler?.(sql);
      await this.#scheduler?.sync();
    } catch (error) {
      await liveness.stop().catch(() => {});
      await sql.end({ timeout: 1 }).catch(() => {});
      this.#state = 'stopped';
      throw error;
    }
    this.#liveness = liveness;
    this.#client = new DuctworkClient({ sql, schema: config.database.schema });
    if (!peekDefaultClient()) setDefaultClient(this.#client);
    this.#pipelines = pipelines.map((p) => p.name);
    const processId = this.processId;
    const metrics = new EngineMetrics({
      pipelines: this.#pipelines, poolSize: config.database.pool_size,
      readGauges: async () => {
        const [queue, engine] = await Promise.all([queueGauges(sql), engineGauges(sql, processId)]);
        return { queue, pool: { active: engine.active, idle: engine.idle }, livenessLockHeld: engine.lockHeld };
      },
    });
    this.#metrics = metrics;
    const observer = new EngineObserver(metrics);

    const wakeups = new Wakeups();
    const definitions = new DefinitionCache();
    if (config.role !== 'advancer') {
      const concurrency = pipelines.reduce((sum, p) => sum + settingFor(config.job_worker.count, 5, p.name), 0);
      this.#pool = new StepThreadPool({
        appUrl: app.url,
        threads: config.job_worker.threads,
        concurrency,
        context: (request) => this.#answerContext(request),
        log: log.child('thread_pool'),
      });
      this.#jobWorker = new JobWorker({
        sql, pool: this.#pool, pipelines: this.#pipelines, config, processId: this.processId, log: log.child('job_worker'), wakeups, definitions,
        advancersElsewhere: config.role === 'worker', mayClaim: () => liveness.whenHolding(), timeoutOf: (pipeline, klass) => stepTimeout(config, app.steps.get(klass), pipeline, klass), observer,
      });
    }
    if (config.role !== 'worker') {
      const routing = new Set<string>();
      for (let i = 0; i < config.pipeline_advancer.count; i++) {
        this.#advancers.push(new Advancer({
          sql, pipelines: this.#pipelines, index: i, config, processId: this.processId, log: log.child(`pipeline_advancer.${i}`), wakeups, definitions,
          workersElsewhere: config.role === 'advancer', routing, observer,
        }));
      }
    }
    this.#reaper = new Reaper({ sql, config, liveness, log: log.child('reaper'), wakeups, observer });
    this.#cleaner = new RetentionCleaner({ sql, config, log: log.child('retention') });
    this.#listener = new WakeupListener({
      url, processId: this.processId, schema: config.database.schema, pipelines: this.#pipelines, wakeups, log: log.child('listener'),
      onCancel: (runId) => this.#jobWorker?.abortRun(runId),
    });
    await this.#listener.start();
    this.#jobWorker?.start();
    for (const advancer of this.#advancers) advancer.start();
    this.#reaper.start();
    this.#cleaner.start();
    this.#scheduler?.start();
    this.#state = 'running';
    if (this.#jobWorker) await this.#hook('onWorkerStart', { name: this.#jobWorker.name, role: 'job_worker' });
    for (const a of this.#advancers) await this.#hook('onAdvancerStart', { name: a.name, role: 'pipeline_advancer' });
    await this.#hook('onSupervisorStart', { name: 'ductwork.supervisor', role: 'supervisor' });
    log.info('Ductwork engine started', {
      pipelines: this.#pipelines.join(', '),
      role: config.role,
      threads: this.#pool?.threads ?? 0,
      database: redactUrl(url),
      schema: config.database.schema,
    });
  }

  /**
   * Graceful stop: claims stop, running steps get `job_worker.shutdown_timeout` to finish, the
   * rest are abandoned and re-enqueued at once (recorded as crashes), advancers finish their
   * transaction, and the process row is removed. Idempotent; resolves when everything stopped.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    const { log, config } = this;
    const worker = this.#jobWorker;
    await worker?.stopClaiming();
    const drained = !worker || (await withTimeout(worker.settled(), config.job_worker.shutdown_timeout * 1000));
    if (!drained) {
      log.warn('Shutdown timeout reached; abandoning running steps for immediate re-run', { steps: worker!.inflight });
      worker!.abandonRemaining();
    }
    await this.#pool?.destroy();
    await worker?.settled();
    if (worker) await this.#hook('onWorkerStop', { name: worker.name, role: 'job_worker' });
    await withTimeout(Promise.all(this.#advancers.map((a) => a.stop())), config.pipeline_advancer.shutdown_timeout * 1000);
    for (const a of this.#advancers) await this.#hook('onAdvancerStop', { name: a.name, role: 'pipeline_advancer' });
    await this.#cleaner?.stop();
    await this.#scheduler?.stop();
    await this.#reaper?.stop();
    await this.#listener?.stop();
    if (this.#sql) await this.#abandonLeftoverClaims(this.#sql);
    await this.#liveness?.stop();
    if (this.#sql) {
      if (peekDefaultClient() === this.#client) setDefaultClient(undefined);
      await this.#sql.end({ timeout: 5 });
    }
    this.#state = 'stopped';
    await this.#hook('onSupervisorStop', { name: 'ductwork.supervisor', role: 'supervisor' });
    log.info('Ductwork engine stopped');
  }

  /**
   * Claims still open under this process after the drain (a result that could not be committed
   * before the deadline, an advancement claimed but not routed) are re-enqueued now rather than
   * left for the orphan sweep.
   */
  async #abandonLeftoverClaims(sql: Sql): Promise<void> {
    try {
      const left = await openClaimsOf(sql, this.processId);
      if (left.length === 0) return;
      const ended = await crashClaims(sql, left.map((c) => crashDecision(this.config, c)), 'AbandonedClaim', 'Engine stopped holding the claim; re-enqueued');
      if (ended.length > 0) this.log.warn('Re-enqueued claims left open at shutdown', { count: ended.length });
    } catch (error) {
      this.log.warn('Could not re-enqueue claims left open at shutdown', { error: (error as Error).message });
    }
  }

  /**
   * A diagnostic dump of every loop (what it runs, for how long) and every worker thread (its
   * stack, read through the inspector even if it is stuck in a synchronous loop). The CLI prints
   * it on SIGTTIN (SIGBREAK on Windows).
   */
  async dumpThreads(): Promise<string> {
    const lines = [`ductwork thread dump: pid ${process.pid}, process ${this.processId}, ${new Date().toISOString()}`];
    if (this.#jobWorker) {
      const running = this.#jobWorker.describe();
      const { waiting, commits } = this.#jobWorker.recording();
      lines.push(`${this.#jobWorker.name}: ${running.length} step(s) running; ${waiting} result(s) waiting to be recorded, ${commits} commit(s) in flight`);
      for (const r of running) lines.push(`  ${r.pipeline}.${r.step} (job ${r.job}, step ${r.stepId}, run ${r.runId}) for ${r.runningMs} ms`);
    }
    for (const advancer of this.#advancers) lines.push(`${advancer.name}: ${advancer.describe()}`);
    for (const thread of await workerThreadStacks()) {
      lines.push(`ductwork.worker_thread ${thread.title}:`);
      for (const frame of thread.frames) lines.push(`    ${frame}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #hook(hook: keyof LifecycleHooks, info: Omit<HookInfo, 'processId'>): Promise<void> {
    return runHook(this.#hooks, hook, { ...info, processId: this.processId }, this.log.child('hooks'));
  }

  /**
   * A worker thread's context read or write. A write is fenced by the claim of the attempt making
   * it: one that no longer holds its claim (reaped while it ran, timed out) is refused.
   */
  async #answerContext(request: ContextRequest): Promise<string | null> {
    const sql = this.#sql!;
    if (request.op === 'get') return (await getTuple(sql, request.runId, request.key)) ?? null;
    const claim = this.#jobWorker?.runningClaim(request.executionId);
    const outcome = claim
      ? await setTuple(sql, request.runId, request.key, request.value, request.overwrite, {
          jobId: claim.id, claimToken: claim.claim_token, stepId: claim.step_id, idempotencyKey: claim.idempotency_key,
        })
      : 'lost';
    if (outcome === 'exists') throw contextOverwriteError(request.key);
    if (outcome === 'lost') {
      throw new ContextError('context_claim_lost', `context.set("${request.key}") refused: this attempt of the step no longer holds its claim (it was re-run elsewhere or timed out).`, {
        details: { key: request.key, execution: request.executionId },
      });
    }
    return null;
  }
}

/**
 * A step's timeout in seconds (0 = none): `job_worker.timeout` where it is set for the pipeline or
 * step, else the step class's `static timeout`, else `job_worker.timeout` as a plain value.
 */
function stepTimeout(config: DuctworkConfig, klass: StepClass | undefined, pipeline: string, step: string): number {
  const setting = config.job_worker.timeout;
  const own = klass?.timeout;
  if (typeof setting === 'number') return own ?? setting;
  const entry = setting[pipeline];
  const specific = typeof entry === 'number' || (entry && typeof entry === 'object' && (typeof entry[step] === 'number' || typeof entry.default === 'number'));
  return specific ? settingFor(setting, 0, pipeline, step) : own ?? settingFor(setting, 0, pipeline, step);
}

/** Entry point of the embedding API. */
export const Ductwork = {
  /**
   * Starts the threaded engine inside this process and resolves once every loop runs.
   *
   * ```ts
   * const engine = await Ductwork.start({ app: './dist/pipelines.js', database: { url: process.env.DATABASE_URL } });
   * process.on('SIGTERM', () => engine.stop());
   * ```
   */
  async start(options: StartOptions = {}): Promise<Engine> {
    const { log, hooks, ...rest } = options;
    const engine = new Engine(resolveConfig(rest), log, hooks);
    await engine.start();
    return engine;
  },
};

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
