/** What crosses the boundary between the engine's main thread and a worker thread. JSON travels as text. */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../src/errors.js';
import type { StepRuntimeInfo } from '../src/definition/step.js';

/** Ids and counters a step can read through `this.execution` (the context is attached in the thread). */
export type TaskInfo = Omit<StepRuntimeInfo, 'context'>;

/** One step to run. */
export interface StepTask {
  step: string;
  /** JSON text of the step's input. */
  input: string;
  info: TaskInfo;
}

/** The outcome of user code: output JSON text, or the error it threw (user errors only). */
export type StepTaskResult = { ok: true; output: string } | { ok: false; error: SerializedError };

/** A context read or write, sent from a worker thread to the main thread. */
export type ContextRequest =
  | { id: number; runId: string; op: 'get'; key: string }
  | { id: number; runId: string; op: 'set'; key: string; value: string; overwrite: boolean };

/** A context request before the thread numbers it. */
export type ContextRequestBody =
  | { runId: string; op: 'get'; key: string }
  | { runId: string; op: 'set'; key: string; value: string; overwrite: boolean };

/** The main thread's answer: for `get`, the stored JSON text or null. */
export type ContextResponse = { id: number; ok: true; value: string | null } | { id: number; ok: false; error: SerializedError };

/** First message of each worker thread: the port it sends context requests on. */
export interface ContextPortAnnouncement {
  ductworkContextPort: MessagePort;
  threadId: number;
}
