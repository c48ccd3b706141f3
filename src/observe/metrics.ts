/**
 * The engine's Prometheus metrics (prom-client), in a registry of the engine's own: counters and
 * histograms updated as steps run, gauges read from the database at each scrape. Labels are
 * pipeline and step class names, halt reasons and outcomes: bounded by the code, never an id.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How an attempt of a step ended, as counted: a timeout is not also counted as a failure. */
export type StepOutcome = 'completed' | 'failed' | 'crashed' | 'timed_out' | 'lost';

/** What the database says at scrape time (see `engineGauges` in db/queries/metric-reads). */
export interface DatabaseGauges {
  /** Run jobs per pipeline: due and unclaimed, waiting for a retry backoff, claimed; advance jobs waiting. */
  queue: { pipeline: string; ready: number; scheduled: number; in_flight: number; advancing: number }[];
  /** This engine's connections by state (pg_stat_activity); undefined for a process without an engine. */
  pool?: { active: number; idle: number } | undefined;
  /** Whether this engine's liveness lock is held (pg_locks); undefined without an engine. */
  livenessLockHeld?: boolean | undefined;
}

/** Options of {@link EngineMetrics}. */
export interface EngineMetricsOptions {
  /** Reads the database gauges; called once per scrape. */
  readGauges?: () => Promise<DatabaseGauges>;
  /** Pipelines shown with 0 when they have nothing queued (the engine's own). */
  pipelines?: readonly string[];
  /** Size of the engine's pool (`database.pool_size`). */
  poolSize?: number;
  /**
   * False for a process that runs no engine (a dashboard on its own): only the gauges read from
   * the database are served, not counters that would stay at 0.
   */
  engine?: boolean;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Counters, histograms and gauges of one engine, and the registry that renders them. */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly #options: EngineMetricsOptions;
  readonly #outcomes: Record<Exclude<StepOutcome, 'lost'>, Counter<'pipeline' | 'step'>>;
  readonly #started: Counter<'pipeline' | 'step'>;
  readonly #duration: Histogram<'pipeline' | 'step' | 'outcome'>;
  readonly #queueWait: Histogram<'pipeline'>;
  readonly #advancements: Counter<'pipeline'>;
  readonly #halts: Counter<'pipeline' | 'reason'>;
  readonly #reaped: Counter;
  readonly #executions: Gauge<'pipeline' | 'state'>;
  readonly #advancing: Gauge<'pipeline'>;
  readonly #pool: Gauge<'state'>;
  readonly #poolMax: Gauge;
  readonly #lock: Gauge;
  /** Labelled children by pipeline and step (and outcome): prom-client hashes labels on every call otherwise. */
  readonly #byStep = new Map<string, { started: Counter.Internal; queueWait: Histogram.Internal<string> }>();
  readonly #byOutcome = new Map<string, { counter: Counter.Internal | undefined; duration: Histogram.Internal<string> }>();

  constructor(options: EngineMetricsOptions = {}) {
    this.#options = options;
    const shared = [this.registry];
    // Metrics only an engine updates are left out of a registry without one.
    const registers = options.engine === false ? [] : shared;
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers });
    const byStep = ['pipeline', 'step'] as const;
    this.#started = counter('ductwork_steps_started_total', 'Step attempts started (claimed and handed to a worker thread).', byStep);
    this.#outcomes = {
      completed: counter('ductwork_steps_completed_total', 'Step attempts that succeeded and whose result was committed.', byStep),
      failed: counter('ductwork_steps_failed_total', 'Step attempts whose code threw (recorded; retried while max_retry allows). Timeouts are counted apart.', byStep),
      crashed: counter('ductwork_steps_crashed_total', 'Step attempts lost to an infrastructure failure in this process (worker thread died, result not storable...).', byStep),
      timed_out: counter('ductwork_steps_timed_out_total', 'Step attempts that exceeded their timeout (recorded as failures with code step_timeout).', byStep),
    };
    this.#duration = new Histogram({
      name: 'ductwork_step_duration_seconds', help: 'Time from an attempt\'s dispatch to its recorded outcome.', labelNames: ['pipeline', 'step', 'outcome'],
      buckets: DURATION_BUCKETS, registers,
    });
    this.#queueWait = new Histogram({
      name: 'ductwork_step_queue_wait_seconds', help: 'Time from an attempt being due to its claim (database clock).', labelNames: ['pipeline'],
      buckets: DURATION_BUCKETS, registers,
    });
    this.#advancements = counter('ductwork_advancements_total', 'Branches moved on by this engine\'s advancers (one per finished step routed).', ['pipeline']);
    this.#halts = counter('ductwork_halts_total', 'Branches halted, by reason (job_retries_exhausted, job_crashes_exhausted, ...).', ['pipeline', 'reason']);
    this.#reaped = new Counter({ name: 'ductwork_reaped_claims_total', help: 'Claims of dead processes (or of none) re-enqueued by this engine\'s reaper.', registers });
    this.#executions = new Gauge({
      name: 'ductwork_executions', help: 'Step attempts per pipeline now: ready (due, unclaimed), scheduled (waiting for a retry backoff), in_flight (claimed). Read from the database at scrape.',
      labelNames: ['pipeline', 'state'], registers: shared,
    });
    this.#advancing = new Gauge({ name: 'ductwork_advancements_pending', help: 'Finished steps waiting for an advancer, per pipeline (database, at scrape).', labelNames: ['pipeline'], registers: shared });
    this.#pool = new Gauge({ name: 'ductwork_db_pool_connections', help: 'This engine\'s open database connections by state (pg_stat_activity, at scrape).', labelNames: ['state'], registers });
    this.#poolMax = new Gauge({ name: 'ductwork_db_pool_size', help: 'Connections this engine\'s pool may open (database.pool_size).', registers });
    this.#lock = new Gauge({ name: 'ductwork_liveness_lock_held', help: '1 while this engine holds its liveness lock (pg_locks, at scrape), else 0.', registers });
  }

  /** An attempt was claimed and dispatched after waiting `queueWaitSeconds` since it was due. */
  stepStarted(pipeline: string, step: string, queueWaitSeconds: number): void {
    const key = `${pipeline}\0${step}`;
    let children = this.#byStep.get(key);
    if (!children) this.#byStep.set(key, (children = { started: this.#started.labels({ pipeline, step }), queueWait: this.#queueWait.labels({ pipeline }) }));
    children.started.inc();
    children.queueWait.observe(Math.max(0, queueWaitSeconds));
  }

  /** An attempt's outcome was recorded (`lost`: its claim had been taken away; only its duration is kept). */
  stepEnded(pipeline: string, step: string, outcome: StepOutcome, seconds: number): void {
    const key = `${pipeline}\0${step}\0${outcome}`;
    let children = this.#byOutcome.get(key);
    if (!children) {
      children = { counter: outcome === 'lost' ? undefined : this.#outcomes[outcome].labels({ pipeline, step }), duration: this.#duration.labels({ pipeline, step, outcome }) };
      this.#byOutcome.set(key, children);
    }
    children.counter?.inc();
    children.duration.observe(seconds);
  }

  /** A branch moved on (a routed finished step); `haltReason` when the move halted it. */
  advanced(pipeline: string, haltReason?: string): void {
    this.#advancements.inc({ pipeline });
    if (haltReason) this.#halts.inc({ pipeline, reason: haltReason });
  }

  /** The reaper re-enqueued `count` claims. */
  reaped(count: number): void {
    if (count > 0) this.#reaped.inc(count);
  }

  /** The content type of {@link scrape}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads the database gauges, then renders every metric in the Prometheus text format. */
  async scrape(): Promise<string> {
    const { readGauges, pipelines = [], poolSize } = this.#options;
    if (readGauges) {
      const gauges = await readGauges();
      this.#executions.reset();
      this.#advancing.reset();
      const rows = new Map(pipelines.map((p) => [p, { pipeline: p, ready: 0, scheduled: 0, in_flight: 0, advancing: 0 }]));
      for (const row of gauges.queue) rows.set(row.pipeline, row);
      for (const row of rows.values()) {
        for (const state of ['ready', 'scheduled', 'in_flight'] as const) this.#executions.set({ pipeline: row.pipeline, state }, row[state]);
        this.#advancing.set({ pipeline: row.pipeline }, row.advancing);
      }
      if (gauges.pool) {
        this.#pool.set({ state: 'active' }, gauges.pool.active);
        this.#pool.set({ state: 'idle' }, gauges.pool.idle);
      }
      if (gauges.livenessLockHeld !== undefined) this.#lock.set(gauges.livenessLockHeld ? 1 : 0);
    }
    if (poolSize !== undefined) this.#poolMax.set(poolSize);
    return this.registry.metrics();
  }
}
