/**
 * Helpers for testing code that uses Ductwork, with any test runner (node:test, vitest, jest):
 *
 * - {@link runStep}: run one step inline on the current thread, as the engine would (JSON
 *   checks, `this.context`, `this.idempotencyKey`), for fast unit tests;
 * - {@link runToCompletion}: run a whole pipeline on a real engine and database and get its
 *   output and every step's input and output;
 * - {@link pipelinesTriggeredDuring} / {@link assertTriggered}: check that code triggered pipelines.
 */
import { DuctworkClient } from '../client/client.js';
import type { PipelineStatusReport } from '../client/handle.js';
import { definitionOf, pipelineNameOf, type PipelineClass } from '../client/pipeline.js';
import type { DuctworkOptions } from '../config/config.js';
import { connect, type Sql } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import type { Json } from '../definition/json.js';
import { contextOverwriteError, stepNameOf, type StepClass, type StepContext } from '../definition/step.js';
import { DuctworkError, StepError } from '../errors.js';
import { createLogger } from '../log.js';
import { Ductwork } from '../runtime/engine.js';
import { encodeContextValue, executeStep } from '../../workers/execute-step.js';

/** Options of {@link runStep}. */
export interface RunStepOptions {
  /** The run's context before the step runs; the step's writes land here too. */
  context?: Map<string, Json>;
  idempotencyKey?: string;
  attempt?: number;
  /** What the step sees as `this.signal` (abort it to test how the step stops). */
  signal?: AbortSignal;
}

/**
 * Runs one step inline, as the engine would: the input and output go through JSON, a non-JSON
 * output throws `StepError` (`step_output_not_json`), and `this.context` reads and writes
 * `options.context`. Resolves with the output; rejects with what the step threw.
 */
export async function runStep<O>(step: StepClass & (new () => { execute(...args: never[]): O | Promise<O> }), input: unknown, options: RunStepOptions = {}): Promise<Awaited<O>> {
  const context = options.context ?? new Map<string, Json>();
  const name = stepNameOf(step);
  const memory: StepContext = {
    async get<T extends Json = Json>(key: string): Promise<T | null> {
      return (context.has(key) ? JSON.parse(JSON.stringify(context.get(key))) : null) as T | null;
    },
    async set<T extends Json>(key: string, value: T, setOptions: { overwrite?: boolean } = {}): Promise<T> {
      const text = encodeContextValue(key, value);
      if (context.has(key) && !setOptions.overwrite) {
        throw contextOverwriteError(key);
      }
      context.set(key, JSON.parse(text) as Json);
      return value;
    },
  };
  const id = options.idempotencyKey ?? '00000000-0000-7000-8000-000000000000';
  const result = await executeStep(
    new Map([[name, step]]),
    {
      step: name,
      input: JSON.stringify(input === undefined ? null : input),
      info: { pipelineId: id, runId: id, stepId: id, executionId: '0', idempotencyKey: id, attempt: options.attempt ?? 1, crashCount: 0 },
    },
    memory,
    options.signal ?? new AbortController().signal,
  );
  if (result.ok) return JSON.parse(result.output) as Awaited<O>;
  const error = result.error.code
    ? new StepError(result.error.code as 'step_output_not_json', result.error.message)
    : Object.assign(new Error(result.error.message), { name: result.error.name });
  error.stack = result.error.stack ?? error.stack;
  throw error;
}

/** What {@link runToCompletion} returns. */
export interface CompletedRun<Out> {
  output: Out;
  report: PipelineStatusReport;
  /** Every step in the order it was created, with parsed input and output. */
  steps: { step: string; node: string; transition: string; status: string; input: unknown; output: unknown }[];
}

/** Options of {@link runToCompletion}. */
export interface RunToCompletionOptions {
  /** The module exporting your pipelines (what the engine's worker threads load). */
  app: string | URL;
  /** Defaults to DATABASE_URL. */
  databaseUrl?: string;
  /** Defaults to `ductwork_test`; migrated when needed. */
  schema?: string;
  timeoutMs?: number;
  /** Extra engine configuration (retry budgets, ...). */
  config?: DuctworkOptions;
}

/**
 * Runs `pipeline` with `input` to the end on a real engine (worker threads, real database),
 * then stops the engine. Rejects with `pipeline_halted` if it halts.
 */
export async function runToCompletion<In, Out>(pipeline: PipelineClass<In, Out>, input: NoInfer<In>, options: RunToCompletionOptions): Promise<CompletedRun<Out>> {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (!url) throw new DuctworkError('config_invalid', 'runToCompletion needs a database: pass databaseUrl or set DATABASE_URL.');
  const schema = options.schema ?? 'ductwork_test';
  const sql = connect({ url, schema, max: 3, applicationName: 'ductwork-testing' });
  try {
    await migrate(sql, schema);
    definitionOf(pipeline);
    const engine = await Ductwork.start({
      ...options.config,
      app: options.app,
      pipelines: [pipelineNameOf(pipeline)],
      database: { ...options.config?.database, url, schema },
      job_worker: { polling_timeout: 0.05, retry_backoff: { initial: 0.05, multiplier: 1, jitter: 0 }, ...options.config?.job_worker },
      pipeline_advancer: { polling_timeout: 0.05, ...options.config?.pipeline_advancer },
      log: createLogger('warn'),
    });
    try {
      const client = new DuctworkClient({ sql, schema });
      const handle = await client.trigger(pipeline, input);
      const output = await handle.result(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
      const report = await handle.status();
      const rows = await sql`select klass, node, to_transition, status, input, output from step_view where run_id = ${report.runId} order by started_at, id`;
      return {
        output,
        report,
        steps: rows.map((r) => ({
          step: r.klass as string, node: r.node as string, transition: r.to_transition as string, status: r.status as string,
          input: JSON.parse(r.input as string), output: r.output === null ? undefined : JSON.parse(r.output as string),
        })),
      };
    } finally {
      await engine.stop();
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** The names of the pipelines triggered while `work` ran (in trigger order). */
export async function pipelinesTriggeredDuring(database: DuctworkClient | { sql: Sql }, work: () => unknown): Promise<string[]> {
  const sql = database.sql;
  const [before] = await sql`select clock_timestamp() as at`;
  await work();
  const rows = await sql`select klass from pipelines where created_at >= ${before!.at as Date} order by created_at, id`;
  return rows.map((r) => r.klass as string);
}

/**
 * Asserts that `work` triggered `pipeline` exactly `times` times (default once) and nothing
 * else; throws an Error saying what was triggered instead.
 */
export async function assertTriggered(database: DuctworkClient | { sql: Sql }, pipeline: PipelineClass | string, work: () => unknown, options: { times?: number } = {}): Promise<void> {
  const name = typeof pipeline === 'string' ? pipeline : pipelineNameOf(pipeline);
  const times = options.times ?? 1;
  const triggered = await pipelinesTriggeredDuring(database, work);
  const matching = triggered.filter((n) => n === name).length;
  if (matching === times && triggered.length === times) return;
  const actual = triggered.length === 0 ? 'triggered none' : `triggered ${triggered.join(', ')}`;
  throw new Error(`expected to trigger pipeline ${name}${times === 1 ? '' : ` ${times} times`} but ${actual}`);
}
