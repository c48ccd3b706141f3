import type { PipelineStatus } from '../db/queries/pipelines.js';
import type { HaltReason } from '../db/queries/branches.js';

/** A snapshot of one pipeline: its status, its latest run, and why it halted if it did. */
export interface PipelineStatusReport {
  id: string;
  pipeline: string;
  status: PipelineStatus;
  runId: string;
  /** The final output (parsed JSON) once completed, else undefined. */
  output?: unknown;
  triggeredAt: Date;
  completedAt: Date | null;
  haltedAt: Date | null;
  /** One entry per halted branch of the latest run. */
  halts: { branchId: string; reason: HaltReason; detail: string | null }[];
  /** How many steps of the latest run are in each status. */
  steps: Record<'in_progress' | 'advancing' | 'failed' | 'completed', number>;
  /**
   * What the pipeline waits for, while in progress: a branch's `delay` (an `after` or `runNextAt`),
   * the delayed `start` of a trigger, or a step's `retry` after its backoff, each due `until`; or
   * an `event` (a signal), until its timeout (null: none). `step` is the step a delay follows
   * (or, after a delivered signal, the step it holds back), the step that starts or retries, or
   * the step after which the branch waits for the event.
   */
  waiting: { branchId: string | null; node: string; step: string; kind: 'delay' | 'event' | 'start' | 'retry'; event?: string; until: Date | null }[];
  /** Why it was cancelled (`cancel({ reason })`), for a cancelled pipeline. */
  cancelReason?: string | null;
}

/** Options for waiting on a pipeline. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default: wait forever). */
  timeoutMs?: number;
}

/** A triggered pipeline: its id and ways to read its progress and result. */
export interface PipelineHandle<Out = unknown> {
  readonly id: string;
  readonly pipeline: string;
  /** From a trigger with a `key`: false when a pipeline with that key existed and was returned instead. */
  readonly created?: boolean;
  /** The current status report. */
  status(): Promise<PipelineStatusReport>;
  /** Resolves with the report once the pipeline is completed or halted. */
  wait(options?: WaitOptions): Promise<PipelineStatusReport>;
  /** Resolves with the final output once completed; rejects with `pipeline_halted` if it halts, `pipeline_cancelled` if cancelled. */
  result(options?: WaitOptions): Promise<Out>;
}
