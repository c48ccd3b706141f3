import { ClientError, ConfigError, StepError } from '../errors.js';
import { checkConnection, connect, isTransientDbError, type Sql } from '../db/connect.js';
import { assertDatabaseUrl } from '../db/database-url.js';
import { uuidv7 } from '../db/ids.js';
import { insertBranches } from '../db/queries/branches.js';
import { deleteExpiredPipelines, findPipeline, insertPipeline, type RetentionKeepTimes } from '../db/queries/pipelines.js';
import { durationSeconds, type Duration } from '../duration.js';
import { insertRun, latestRun, runOutput } from '../db/queries/runs.js';
import { definitionBySha1, insertDefinition } from '../db/queries/definitions.js';
import { insertJobs } from '../db/queries/jobs.js';
import { jobsChannel, notifyWakeup } from '../db/notify.js';
import { encodeJson } from '../definition/json.js';
import { resultIsArray } from '../definition/output-shape.js';
import type { PipelineHandle, PipelineStatusReport, WaitOptions } from './handle.js';
import { revivePipeline, type ReviveOptions } from './revive.js';
import { retryBranch } from './retry-branch.js';
import { definitionOf, pipelineNameOf, type PipelineClass } from './pipeline.js';
import { enqueueTrigger, type TriggerRows } from './enqueue-trigger.js';
import { cancelPipeline, type CancelOptions, type CancelReport } from './cancel.js';
import { sendSignal, type SignalOptions, type SignalReceipt, type SignalTarget } from './signal.js';
import { waitingOfRun } from '../db/queries/jobs.js';
import { listSchedules } from '../db/queries/schedules.js';
import { strandedWork, type StrandedWork } from './deploy-check.js';
import { inSchema, triggerTiming, type TriggerOptions } from './trigger-options.js';
import type { PipelineDefinition } from '../definition/define.js';
import { ATTRIBUTES, endSpan, startTriggerSpan } from '../observe/tracing.js';
import {
  readBranches, readPipelines, readRuns, readSteps,
  type BranchInfo, type Page, type PageOptions, type PipelineQuery, type PipelineSummary, type RunSelector, type RunSummary, type StepInfo, type StepQuery,
} from './read-api.js';

/** Options of {@link DuctworkClient.prune}. */
export interface PruneOptions {
  /** Delete pipelines that finished longer ago than this (seconds, or `"30d"`, `"12h"`...). */
  olderThan?: Duration;
  /** Or keep-times per status and pipeline class (the engine's `retention` settings). */
  keep?: RetentionKeepTimes;
  /** Count what would be deleted (pipelines and steps) and delete nothing. */
  dryRun?: boolean;
  /** Pipelines per transaction (default 500). */
  batchSize?: number;
  /** Called after every batch with the totals so far. */
  onProgress?: (report: PruneReport) => void;
}

/** What a prune deleted (or, in a dry run, would delete). */
export interface PruneReport {
  pipelines: number;
  /** Steps of those pipelines (counted in a dry run only). */
  steps: number;
  dryRun: boolean;
}

/**
 * How a client reaches the database: `database` is spelt as in `Ductwork.start` and the YAML file
 * (`{ url, schema, pool_size }`); `DATABASE_URL` and `DUCTWORK_SCHEMA` fill in what it leaves out.
 */
export interface ClientOptions {
  /** Connection URL, schema and pool size, as in the engine's configuration. */
  database?: { url?: string; schema?: string; pool_size?: number };
  /** @deprecated Use `database.url`. */
  databaseUrl?: string;
  /** @deprecated Use `database.schema`. */
  schema?: string;
  /** @deprecated Use `database.pool_size`. */
  poolSize?: number;
  /** Use this postgres.js pool (whose search_path must be the schema) instead of opening one. */
  sql?: Sql;
}

/**
 * The write/read API a web process uses without running an engine: trigger pipelines, read their
 * status, wait for results. One small pool (4 connections by default); no threads. A script that
 * is done with it calls `await client.close()`, or its open connections keep Node running.
 */
export class DuctworkClient {
  readonly sql: Sql;
  readonly schema: string;
  readonly #ownsPool: boolean;
  /** Definitions known to be stored (they are never deleted), and whether each one's result is an array. */
  readonly #stored = new Set<string>();
  readonly #arrayResult = new Map<string, boolean>();

  constructor(options: ClientOptions = {}) {
    this.schema = options.database?.schema ?? options.schema ?? (process.env.DUCTWORK_SCHEMA || 'ductwork');
    if (options.sql) {
      this.sql = options.sql;
      this.#ownsPool = false;
    } else {
      const given = options.database?.url ?? options.databaseUrl;
      const url = given ?? process.env.DATABASE_URL;
      if (!url) {
        throw new ConfigError('config_invalid', 'No database configured for the Ductwork client: pass { database: { url } } or set DATABASE_URL.', {
          details: { key: 'database.url' },
        });
      }
      assertDatabaseUrl(url, given === undefined ? 'DATABASE_URL' : 'DuctworkClient database.url');
      this.sql = connect({ url, schema: this.schema, max: options.database?.pool_size ?? options.poolSize ?? 4, applicationName: 'ductwork-client' });
      this.#ownsPool = true;
    }
  }

  /**
   * Triggers `pipeline` with `input`: one transaction creates the pipeline, its run, its first
   * branch, the first step and its job, and wakes the job workers of the pipeline (NOTIFY).
   * Durable once the promise resolves.
   *
   * - `key`: a second trigger of the same class with the same key returns the pipeline the first
   *   one created (`handle.created === false`) for as long as retention keeps it.
   * - `tx`: writes inside the caller's own postgres.js transaction (`sql.begin(async (tx) => ...)`),
   *   so the pipeline exists exactly when the caller's other writes commit.
   * - `runAt` / `delay`: the first step is due then (database clock), not now.
   */
  async trigger<In, Out>(pipeline: PipelineClass<In, Out>, input: NoInfer<In>, options: TriggerOptions = {}): Promise<PipelineHandle<Out>> {
    const definition = definitionOf(pipeline) as PipelineDefinition<unknown, unknown>;
    const name = pipelineNameOf(pipeline);
    const encoded = encodeJson(input);
    if (!encoded.ok) {
      throw new StepError('trigger_input_not_json', `${name}.trigger: the input is not JSON at ${encoded.problem.path}: ${encoded.problem.reason}.`, {
        details: { pipeline: name, path: encoded.problem.path },
      });
    }
    const rows: TriggerRows = { definition, pipeline: name, input: encoded.text, ...triggerTiming(name, options), storeDefinition: false };
    // The trigger's span is the parent of every span of the pipeline: its context is stored with it.
    const { span, traceContext } = startTriggerSpan(name);
    let outcome: { id: string; created: boolean };
    try {
      if (options.tx) {
        // The caller's transaction may roll back: its definition write is never taken as stored.
        outcome = await inSchema(options.tx, this.schema, (tx) => enqueueTrigger(tx, this.schema, { ...rows, traceContext, storeDefinition: true }));
      } else {
        const storeDefinition = !this.#stored.has(definition.sha1);
        outcome = await this.sql.begin((tx) => enqueueTrigger(tx, this.schema, { ...rows, traceContext, storeDefinition }));
        this.#stored.add(definition.sha1);
      }
    } catch (error) {
      endSpan(span, error);
      throw error;
    }
    span.setAttribute(ATTRIBUTES.pipelineId, outcome.id);
    endSpan(span);
    return { ...this.handle<Out>(outcome.id, name), created: outcome.created };
  }

  /**
   * Re-runs a halted pipeline as a new run that keeps completed steps and their outputs; steps
   * that exhausted their budgets run again with fresh budgets and the same idempotency key.
   * Throws `ClientError` `revive_error` when the pipeline is not halted.
   */
  async revive<Out = unknown>(id: string, options: ReviveOptions = {}): Promise<PipelineHandle<Out>> {
    assertPipelineId(id);
    const klass = await revivePipeline(this.sql, this.schema, id, options);
    return this.handle<Out>(id, klass);
  }

  /** A handle for a pipeline id (from `trigger`, a log line or the CLI). */
  handle<Out = unknown>(id: string, pipeline = ''): PipelineHandle<Out> {
    return {
      id,
      pipeline,
      status: () => this.status(id),
      wait: (options) => this.wait(id, options),
      result: (options) => this.result<Out>(id, options),
    };
  }

  /** The current status of a pipeline. Throws `pipeline_not_found` for an unknown id. */
  async status(id: string): Promise<PipelineStatusReport> {
    assertPipelineId(id);
    const pipeline = await findPipeline(this.sql, id);
    const run = pipeline && (await latestRun(this.sql, id));
    if (!pipeline || !run) throw new ClientError('pipeline_not_found', `No pipeline with id ${id} in schema "${this.schema}".`, { details: { id } });
    const [halts, counts, output, waiting] = await Promise.all([
      this.sql`select id, halt_reason, halt_detail from branches where run_id = ${run.id} and status = 'halted' order by started_at, id`,
      this.sql`select status, count(*)::int as n from step_view where run_id = ${run.id} group by status`,
      run.status === 'completed' ? this.#output(run.id, run.definition_sha1) : Promise.resolve(null),
      pipeline.status === 'in_progress' ? waitingOfRun(this.sql, run.id) : Promise.resolve([]),
    ]);
    const steps = { in_progress: 0, advancing: 0, failed: 0, completed: 0 };
    for (const row of counts) steps[row.status as keyof typeof steps] = row.n as number;
    return {
      id,
      pipeline: pipeline.klass,
      status: pipeline.status,
      runId: run.id,
      output: output === null ? undefined : JSON.parse(output),
      triggeredAt: run.triggered_at,
      completedAt: run.completed_at,
      haltedAt: run.halted_at,
      halts: halts.map((h) => ({ branchId: h.id as string, reason: h.halt_reason, detail: h.halt_detail as string | null })),
      steps,
      waiting: waiting.map((w) => ({
        branchId: w.branch_id, node: w.node, step: w.klass, until: w.until, kind: w.kind, ...(w.kind === 'event' ? { event: w.event! } : {}),
      })),
      ...(pipeline.status === 'cancelled' ? { cancelReason: pipeline.cancel_reason ?? null } : {}),
    };
  }

  /** A completed run's output JSON text, shaped by its definition (one value, or an array for an open fan-out). */
  async #output(runId: string, sha1: string): Promise<string | null> {
    let many = this.#arrayResult.get(sha1);
    if (many === undefined) {
      const graph = await definitionBySha1(this.sql, sha1);
      many = graph ? resultIsArray(graph) : false;
      this.#arrayResult.set(sha1, many);
    }
    return runOutput(this.sql, runId, many);
  }

  /** Pipelines by status, and the most recent ones (newest first). */
  async overview(limit = 20): Promise<{ counts: Record<string, number>; latest: { id: string; pipeline: string; status: string; createdAt: Date }[] }> {
    const [counts, latest] = await Promise.all([
      this.sql`select status, count(*)::int as n from pipelines group by status order by status`,
      this.sql`select id, klass, status, created_at from pipelines order by created_at desc, id desc limit ${limit}`,
    ]);
    return {
      counts: Object.fromEntries(counts.map((r) => [r.status as string, r.n as number])),
      latest: latest.map((r) => ({ id: r.id as string, pipeline: r.klass as string, status: r.status as string, createdAt: r.created_at as Date })),
    };
  }

  /**
   * Polls until the pipeline is completed or halted (or `timeoutMs` passes: `wait_timeout`).
   * A dropped database connection is waited out, not reported.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<PipelineStatusReport> {
    const deadline = options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs;
    let pause = 10;
    for (;;) {
      let report: PipelineStatusReport | undefined;
      try {
        report = await this.status(id);
      } catch (error) {
        if (!isTransientDbError(error) || performance.now() >= deadline) throw error;
      }
      if (report && report.status !== 'in_progress') return report;
      if (performance.now() >= deadline) {
        throw new ClientError('wait_timeout', `Pipeline ${id} (${report?.pipeline ?? 'unknown'}) is still in progress after ${options.timeoutMs} ms.`, {
          details: { id, steps: report?.steps },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - performance.now()))));
      pause = Math.min(pause * 1.5, 250);
    }
  }

  /** The final output once completed; rejects with `pipeline_halted` (listing halt reasons) if it halts. */
  async result<Out = unknown>(id: string, options: WaitOptions = {}): Promise<Out> {
    const report = await this.wait(id, options);
    if (report.status === 'cancelled') {
      throw new ClientError('pipeline_cancelled', `Pipeline ${id} (${report.pipeline}) was cancelled${report.cancelReason ? `: ${report.cancelReason}` : ''}.`, {
        details: { id, reason: report.cancelReason ?? null },
      });
    }
    if (report.status === 'halted') {
      const reasons = report.halts.map((h) => h.reason + (h.detail ? ` (${h.detail})` : ''));
      throw new ClientError('pipeline_halted', `Pipeline ${id} (${report.pipeline}) halted: ${reasons.join('; ')}.`, {
        details: { id, halts: report.halts },
      });
    }
    return report.output as Out;
  }

  /**
   * Pipelines newest first, by class, status and creation time, one page at a time:
   *
   * ```ts
   * const { items, next } = await client.listPipelines({ pipeline: EnrichAllUsersData, status: 'halted', within: '24h', limit: 20 });
   * ```
   */
  listPipelines(query: PipelineQuery = {}): Promise<Page<PipelineSummary>> {
    return readPipelines(this.sql, query);
  }

  /** A pipeline's runs, newest first: the first run and one per revive or branch retry. */
  runs(pipelineId: string, options: PageOptions = {}): Promise<Page<RunSummary>> {
    return readRuns(this.sql, pipelineId, options);
  }

  /** The branches of a pipeline's latest run (or of `runId`), halted ones first. Throws `pipeline_not_found` for an unknown id. */
  branches(pipelineId: string, options: RunSelector & PageOptions = {}): Promise<Page<BranchInfo>> {
    return readBranches(this.sql, pipelineId, options);
  }

  /**
   * The steps of a pipeline's latest run (or of `runId`) in creation order, optionally of one
   * branch, node or status: each with its input and output (parsed JSON), status, timings and
   * every attempt with its error (class, code, message).
   *
   * ```ts
   * const { items } = await client.steps(id, { status: 'failed' });
   * for (const step of items) console.log(step.step, step.lastError?.code, step.lastError?.message);
   * ```
   */
  steps(pipelineId: string, query: StepQuery = {}): Promise<Page<StepInfo>> {
    return readSteps(this.sql, pipelineId, query);
  }

  /** Fails fast when the database is unreachable. */
  async check(): Promise<void> {
    await checkConnection(this.sql, 'the configured database');
  }

  /**
   * Closes the pool if the client opened it (one passed as `sql` is the caller's to close). Call it
   * when a script is done: open connections keep the process alive.
   */
  /**
   * Deletes finished pipelines (completed or halted) that finished before `olderThan` ago, with
   * everything of theirs, in batches, as the engine's retention cleaner does; never one in progress,
   * being revived, or with a step still queued. With `dryRun`, counts them and deletes nothing.
   *
   * ```ts
   * const report = await client.prune({ olderThan: '30d', dryRun: true }); // { pipelines, steps, dryRun }
   * ```
   */
  async prune(options: PruneOptions): Promise<PruneReport> {
    const keep: RetentionKeepTimes = options.olderThan === undefined
      ? options.keep ?? (() => { throw new ClientError('prune_invalid', 'prune needs olderThan (a duration such as "30d") or keep-times.'); })()
      : (() => {
          const seconds = durationSeconds(options.olderThan, 'olderThan');
          if (seconds <= 0) throw new ClientError('prune_invalid', `prune: olderThan must be longer than 0 (got ${JSON.stringify(options.olderThan)}).`);
          return { completed: seconds, halted: seconds, byPipeline: [] };
        })();
    const batch = options.batchSize ?? 500;
    const report: PruneReport = { pipelines: 0, steps: 0, dryRun: options.dryRun === true };
    for (;;) {
      const outcome = await deleteExpiredPipelines(this.sql, this.schema, keep, options.dryRun ? 1_000_000_000 : batch, options.dryRun);
      if (outcome === 'busy') {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      report.pipelines += outcome.deleted;
      report.steps += outcome.steps;
      options.onProgress?.(report);
      if (options.dryRun || outcome.deleted < batch) return report;
    }
  }

  /**
   * Cancels a pipeline in progress: no new step starts, running steps see `this.signal` abort
   * (and are stopped after `job_worker.timeout_grace` if they ignore it), its branches and the
   * pipeline end `cancelled`, and its `onHalt` step runs once with `reasons: ['cancelled']`.
   * `revive` resumes a cancelled pipeline where it stopped. Throws `cancel_error` unless it is in progress.
   *
   * ```ts
   * await client.cancel(id, { reason: 'order withdrawn' });
   * ```
   */
  cancel(id: string, options: CancelOptions = {}): Promise<CancelReport> {
    assertPipelineId(id);
    return cancelPipeline(this.sql, this.schema, id, options);
  }

  /**
   * Sends `event` with a JSON `payload` to a pipeline in progress, by id or by `{ pipeline, key }`
   * (the key it was triggered with). A branch waiting for the event (`wait({ event })`) continues
   * with the payload as its next step's input; a signal sent before any branch waits is kept and
   * delivered when one arrives. `options.key` makes a repeated send a no-op. Throws
   * `signal_target_unknown` or `signal_target_finished`.
   *
   * ```ts
   * await client.signal(orderPipelineId, 'approved', { by: 'ada' }, { key: 'approval-1' });
   * ```
   */
  signal(target: SignalTarget, event: string, payload?: unknown, options: SignalOptions = {}): Promise<SignalReceipt> {
    return sendSignal(this.sql, this.schema, target, event, payload, options);
  }

  /**
   * The deploy check: the runs in flight, waiting or delayed, and the schedules, that a build
   * made of `pipelines` could not continue (a pipeline or step class it no longer has). Run it
   * with the new build's pipeline classes before the old engines stop; `ductwork check` does.
   */
  strandedWork(pipelines: readonly PipelineClass[]): Promise<StrandedWork[]> {
    return strandedWork(this.sql, pipelines);
  }

  /** The stored cron schedules with their next and last ticks, soonest first. */
  async schedules(): Promise<{ pipeline: string; name: string; cron: string; timezone: string; missed: string; nextTickAt: Date; lastTickAt: Date | null; lastPipelineId: string | null }[]> {
    return (await listSchedules(this.sql)).map((s) => ({
      pipeline: s.pipeline_klass, name: s.name, cron: s.cron, timezone: s.timezone, missed: s.missed, nextTickAt: s.next_tick_at,
      lastTickAt: s.last_tick_at, lastPipelineId: s.last_pipeline_id,
    }));
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.sql.end({ timeout: 5 });
  }

  /**
   * Retries one halted branch of a halted pipeline: a revive in which only that branch resumes,
   * while the pipeline's other halted branches stay halted (see `revive`). Throws `ClientError`
   * `revive_error` unless the branch is halted in the pipeline's latest run.
   */
  async retryBranch<Out = unknown>(id: string, branchId: string, options: ReviveOptions = {}): Promise<PipelineHandle<Out>> {
    assertPipelineId(id);
    if (!/^[0-9a-f-]{36}$/i.test(branchId)) {
      throw new ClientError('revive_error', `"${branchId}" is not a branch id (expected a UUID).`, { details: { id, branchId } });
    }
    const klass = await retryBranch(this.sql, this.schema, id, branchId, options);
    return this.handle<Out>(id, klass);
  }
}

/** Refuses a malformed id before it reaches a uuid column (which would answer with a database error). */
function assertPipelineId(id: string): void {
  if (!/^[0-9a-f-]{36}$/i.test(id)) {
    throw new ClientError('pipeline_not_found', `"${id}" is not a pipeline id (expected a UUID).`, { details: { id } });
  }
}
