import { durationSeconds, type Duration } from '../duration.js';
import { ContextError, StepError } from '../errors.js';
import type { Json } from './json.js';

/**
 * The run's key/value store, shared by every step of one run (one incarnation of a pipeline).
 * Values are JSON. A key is set once unless `overwrite: true` is passed.
 */
export interface StepContext {
  /** The value stored under `key` for this run, or `null` when it was never set. */
  get<T extends Json = Json>(key: string): Promise<T | null>;
  /** Stores `value` under `key`. Throws `ContextError` (`context_overwrite`) if set before, unless `overwrite`. */
  set<T extends Json>(key: string, value: T, options?: { overwrite?: boolean }): Promise<T>;
}

/** What the engine tells a step instance about the execution it is part of. */
export interface StepRuntimeInfo {
  pipelineId: string;
  runId: string;
  stepId: string;
  /** This attempt's own id: a new one for every attempt (retry, crash re-run) of every step. */
  executionId: string;
  /** Stable across retries, crash re-runs and revive: use it to make side effects idempotent. */
  idempotencyKey: string;
  /** 1 for the first attempt, 2 after one error retry, ... */
  attempt: number;
  /** How many times this step was re-run after an infrastructure crash. */
  crashCount: number;
  /**
   * The W3C `traceparent` of this attempt's span while the engine traces (an OpenTelemetry SDK is
   * registered in its main thread); spans the step starts nest under it when the worker thread has
   * an SDK too. Pass it on by hand to continue the trace elsewhere.
   */
  traceparent?: string;
  context: StepContext;
  /** Aborted when the step's timeout expires or its pipeline is cancelled. */
  signal: AbortSignal;
  /** Set by `runNextAt`: when the branch's next transition may run. */
  runNext?: { at?: number; delaySeconds?: number };
}

/** The error of a second `context.set` of a key without `overwrite` (the engine's and the test helpers'). */
export function contextOverwriteError(key: string): ContextError {
  return new ContextError('context_overwrite', `Can only set value once: context key "${key}" is already set for this run; pass { overwrite: true } to replace it.`);
}

/** Where the engine attaches {@link StepRuntimeInfo} on a step instance; shared with worker threads by name. */
export const STEP_RUNTIME = Symbol.for('ductwork.step.runtime');

/**
 * Base class of every step. A step is a class with an `execute(input)` method; its return value
 * (a JSON value, or a promise of one) is persisted and becomes the next step's input.
 *
 * ```ts
 * class LoadUser extends Step {
 *   async execute(id: number): Promise<User> {
 *     return crm.load(id, { key: this.idempotencyKey });
 *   }
 * }
 * ```
 *
 * Steps are found by name at run time (the class name, or `static stepName`), so renaming a step
 * class breaks runs already in flight: keep `stepName` when you rename.
 */
export abstract class Step {
  /** Registry name of this step; defaults to the class name. Set it when bundlers mangle names. */
  static stepName?: string;

  /**
   * Seconds an attempt may run before `this.signal` aborts and the attempt fails with
   * `step_timeout` (on the retry budget). `job_worker.timeout` set for this step in the config wins.
   */
  static timeout?: number;

  declare [STEP_RUNTIME]?: StepRuntimeInfo;

  /** Does the work. The parameter is the previous step's output (or the trigger input). */
  abstract execute(input: never): unknown;

  /** The run's key/value store. */
  get context(): StepContext {
    return this.#runtime('context').context;
  }

  /** A stable id for this step's work, the same across retries, crash re-runs and revive. */
  get idempotencyKey(): string {
    return this.#runtime('idempotencyKey').idempotencyKey;
  }

  /** Facts about the current execution (ids, attempt number, crash count). */
  get execution(): Omit<StepRuntimeInfo, 'context' | 'signal'> {
    const { context: _context, signal: _signal, ...rest } = this.#runtime('execution');
    return rest;
  }

  /**
   * Aborted when the step must stop: its timeout (`static timeout`, `job_worker.timeout`) expired.
   * Pass it to `fetch` and other cancellable calls, or check `aborted`. A step still running
   * `job_worker.timeout_grace` seconds after the abort has its worker thread terminated.
   */
  get signal(): AbortSignal {
    return this.#runtime('signal').signal;
  }

  /**
   * Holds the branch after this step: what follows (the next step, a fan-out, a fan-in arrival)
   * runs no earlier than `when` — a `Date`, or a duration after this step's result is committed
   * (`'24h'`, seconds). Durable: the wait is a row, due by the database clock, and survives
   * restarts. A transition's own `after` still applies; the later of the two wins.
   *
   * ```ts
   * class ScheduleReminder extends Step {
   *   async execute(order: Order) {
   *     this.runNextAt(new Date(order.deliveryDate));
   *     return order;
   *   }
   * }
   * ```
   */
  runNextAt(when: Date | Duration): void {
    const runtime = this.#runtime('runNextAt');
    if (when instanceof Date) {
      if (Number.isNaN(when.getTime())) throw new StepError('step_run_next_invalid', `${this.constructor.name}.runNextAt: the Date is invalid.`);
      runtime.runNext = { at: when.getTime() };
      return;
    }
    let seconds: number;
    try {
      seconds = durationSeconds(when, `${this.constructor.name}.runNextAt`);
    } catch (error) {
      throw new StepError('step_run_next_invalid', (error as Error).message);
    }
    runtime.runNext = { delaySeconds: seconds };
  }

  #runtime(what: string): StepRuntimeInfo {
    const info = this[STEP_RUNTIME];
    if (!info) {
      throw new ContextError(
        'context_unavailable',
        `${this.constructor.name}.${what} is only available while Ductwork runs the step (inside execute).`,
      );
    }
    return info;
  }
}

/** A concrete step class, constructible with no arguments. */
export type StepClass = (new () => Step) & { stepName?: string; timeout?: number };

/** The registry name of a step class. */
export function stepNameOf(klass: StepClass): string {
  return klass.stepName ?? klass.name;
}
