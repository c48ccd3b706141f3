import { ClientError, ConfigError, StepError } from '../errors.js';
import { checkConnection, connect, isTransientDbError, type Sql } from '../db/connect.js';
import { assertDatabaseUrl } from '../db/database-url.js';
import { uuidv7 } from '../db/ids.js';
import { insertBranches } from '../db/queries/branches.js';
import { findPipeline, insertPipeline } from '../db/queries/pipelines.js';
import { insertRun, latestRun } from '../db/queries/runs.js';
import { jobsChannel, notifyWakeup } from '../db/notify.js';
import { enqueueSteps } from '../db/queries/steps.js';
import { encodeJson } from '../definition/json.js';
import type { PipelineHandle, PipelineStatusReport, WaitOptions } from './handle.js';
import { revivePipeline, type ReviveOptions } from './revive.js';
import { retryBranch } from './retry-branch.js';
import { definitionOf, pipelineNameOf, type PipelineClass } from './pipeline.js';

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
   */
  async trigger<In, Out>(pipeline: PipelineClass<In, Out>, input: NoInfer<In>): Promise<PipelineHandle<Out>> {
    const definition = definitionOf(pipeline);
    const name = pipelineNameOf(pipeline);
    const encoded = encodeJson(input);
    if (!encoded.ok) {
      throw new StepError('trigger_input_not_json', `${name}.trigger: the input is not JSON at ${encoded.problem.path}: ${encoded.problem.reason}.`, {
        details: { pipeline: name, path: encoded.problem.path },
      });
    }
    const pipelineId = uuidv7();
    const runId = uuidv7();
    const branchId = uuidv7();
    const stepId = uuidv7();
    const startNode = definition.graph.nodes[0]!;
    await this.sql.begin((tx) => [
      insertPipeline(tx, pipelineId, name),
      insertRun(tx, { id: runId, pipelineId, klass: name, graph: definition.graph, sha1: definition.sha1 }),
      insertBranches(tx, [{ id: branchId, runId, pipelineKlass: name, parentBranchId: null, frames: [] }]),
      enqueueSteps(tx, [{
        id: stepId, runId, branchId, pipelineKlass: name, node: startNode, klass: definition.graph.edges[startNode]!.klass,
        toTransition: 'start', input: encoded.text, idempotencyKey: stepId,
      }]),
      notifyWakeup(tx, this.schema, jobsChannel(name)),
    ]);
    return this.handle<Out>(pipelineId, name);
  }

  /**
   * Re-runs a halted pipeline as a new run that keeps completed steps and their outputs; steps
   * that exhausted their budgets run again with fresh budgets and the same idempotency key.
   * Throws `ClientError` `revive_error` when the pipeline is not halted.
   */
  async revive<Out = unknown>(id: string, options: ReviveOptions = {}): Promise<PipelineHandle<Out>> {
    assertPipelineId(id);
    await revivePipeline(this.sql, this.schema, id, options);
    return this.handle<Out>(id);
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
    const [halts, counts] = await Promise.all([
      this.sql`select id, halt_reason, halt_detail from branches where run_id = ${run.id} and status = 'halted' order by started_at, id`,
      this.sql`select status, count(*)::int as n from steps where run_id = ${run.id} group by status`,
    ]);
    const steps = { in_progress: 0, advancing: 0, failed: 0, completed: 0 };
    for (const row of counts) steps[row.status as keyof typeof steps] = row.n as number;
    return {
      id,
      pipeline: pipeline.klass,
      status: pipeline.status,
      runId: run.id,
      output: run.status === 'completed' && run.output !== null ? JSON.parse(run.output) : undefined,
      triggeredAt: run.triggered_at,
      completedAt: run.completed_at,
      haltedAt: run.halted_at,
      halts: halts.map((h) => ({ branchId: h.id as string, reason: h.halt_reason, detail: h.halt_detail as string | null })),
      steps,
    };
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
    if (report.status === 'halted') {
      const reasons = report.halts.map((h) => h.reason + (h.detail ? ` (${h.detail})` : ''));
      throw new ClientError('pipeline_halted', `Pipeline ${id} (${report.pipeline}) halted: ${reasons.join('; ')}.`, {
        details: { id, halts: report.halts },
      });
    }
    return report.output as Out;
  }

  /** Fails fast when the database is unreachable. */
  async check(): Promise<void> {
    await checkConnection(this.sql, 'the configured database');
  }

  /**
   * Closes the pool if the client opened it (one passed as `sql` is the caller's to close). Call it
   * when a script is done: open connections keep the process alive.
   */
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
    await retryBranch(this.sql, this.schema, id, branchId, options);
    return this.handle<Out>(id);
  }
}

/** Refuses a malformed id before it reaches a uuid column (which would answer with a database error). */
function assertPipelineId(id: string): void {
  if (!/^[0-9a-f-]{36}$/i.test(id)) {
    throw new ClientError('pipeline_not_found', `"${id}" is not a pipeline id (expected a UUID).`, { details: { id } });
  }
}
