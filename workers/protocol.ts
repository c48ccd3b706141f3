/** What crosses the boundary between the engine's main thread and a worker thread. JSON travels as text. */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../src/errors.js';
import type { StepRuntimeInfo } from '../src/definition/step.js';

/** Ids and counters a step can read through `this.execution` (the context is attached in the thread). */
export type TaskInfo = Omit<StepRuntimeInfo, 'context' | 'signal'>;

/** One step to run. */
export interface StepTask {
  step: string;
  /** JSON text of the step's input. */
  input: string;
  info: TaskInfo;
  /** The step has a timeout: its thread reports that it runs it ({@link StepRunning}), so it can be stopped. */
  watched?: boolean;
}

/** Sent from a worker thread to the main thread when it starts a watched step. */
export interface StepRunning {
  ductworkRunning: string;
}

/** When a step asked its successor to run (`this.runNextAt`): an epoch time, or seconds after the commit. */
export interface StepRunNext {
  at?: number;
  delaySeconds?: number;
}

/** The outcome of user code: output JSON text, or the error it threw (user errors only). */
export type StepTaskResult = { ok: true; output: string; runNext?: StepRunNext } | { ok: false; error: SerializedError };

/** A context read or write, sent from a worker thread to the main thread by a running step. */
export type ContextRequest = { id: number } & ContextRequestBody;

/** A context request before the thread numbers it; a write names the attempt making it (it is fenced by its claim). */
export type ContextRequestBody =
  | { runId: string; op: 'get'; key: string }
  | { runId: string; op: 'set'; key: string; value: string; overwrite: boolean; executionId: string };

/** Sent from the main thread to every worker thread: abort this step's `this.signal`. */
export interface StepAbort {
  ductworkAbort: { executionId: string; reason: string };
}

/** The main thread's answer: for `get`, the stored JSON text or null. */
export type ContextResponse = { id: number; ok: true; value: string | null } | { id: number; ok: false; error: SerializedError };

/** First message of each worker thread: the port it sends context requests on. */
export interface ContextPortAnnouncement {
  ductworkContextPort: MessagePort;
  threadId: number;
}
