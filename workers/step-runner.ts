/**
 * Entry point of every worker thread in the engine's Piscina pool. It imports the app module
 * once (the same registry the main thread built), runs steps, and forwards `this.context` calls
 * to the main thread: worker threads never touch the database.
 */
import { MessageChannel, threadId, workerData, parentPort } from 'node:worker_threads';
import { ContextError } from '../src/errors.js';
import { findPipelines, stepRegistry } from '../src/definition/registry.js';
import type { Json } from '../src/definition/json.js';
import type { StepContext } from '../src/definition/step.js';
import { assertContextKey, encodeContextValue, executeStep } from './execute-step.js';
import { withTraceparent } from '../src/observe/trace-context.js';
import type { ContextRequestBody, ContextResponse, StepAbort, StepRunning, StepTask, StepTaskResult } from './protocol.js';

const { app } = workerData as { app: string };
const registry = stepRegistry(findPipelines((await import(app)) as Record<string, unknown>));

const channel = new MessageChannel();
const pending = new Map<number, { resolve: (value: string | null) => void; reject: (error: Error) => void }>();
let nextId = 1;
/** Running steps' abort controllers, by execution id (unique per attempt). */
const running = new Map<string, AbortController>();
channel.port1.on('message', (message: ContextResponse | StepAbort) => {
  if ('ductworkAbort' in message) {
    const { executionId, reason } = message.ductworkAbort;
    running.get(executionId)?.abort(new StepAbortedError(reason));
    return;
  }
  const response = message;
  const waiter = pending.get(response.id);
  if (!waiter) return;
  pending.delete(response.id);
  if (response.ok) waiter.resolve(response.value);
  else waiter.reject(Object.assign(new ContextError((response.error.code ?? 'context_unavailable') as 'context_overwrite', response.error.message)));
  if (pending.size === 0) channel.port1.unref();
});
channel.port1.unref();
parentPort!.postMessage({ ductworkContextPort: channel.port2, threadId }, [channel.port2]);

function request(message: ContextRequestBody): Promise<string | null> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    channel.port1.ref();
    channel.port1.postMessage({ ...message, id });
  });
}

/** The reason a step's `this.signal` carries when the engine aborts it. */
class StepAbortedError extends Error {
  override name = 'StepAbortedError';
}

function contextFor(task: StepTask): StepContext {
  const { runId, executionId } = task.info;
  return {
    async get<T extends Json = Json>(key: string): Promise<T | null> {
      assertContextKey(key);
      const text = await request({ runId, op: 'get', key });
      return text === null ? null : (JSON.parse(text) as T);
    },
    async set<T extends Json>(key: string, value: T, options: { overwrite?: boolean } = {}): Promise<T> {
      assertContextKey(key);
      await request({ runId, op: 'set', key, value: encodeContextValue(key, value), overwrite: options.overwrite === true, executionId });
      return value;
    },
  };
}

/** Piscina calls this for every task. It never throws: user errors come back as values. */
export default async function runStep(task: StepTask): Promise<StepTaskResult> {
  const key = task.info.executionId;
  const controller = new AbortController();
  running.set(key, controller);
  if (task.watched) channel.port1.postMessage({ ductworkRunning: key } satisfies StepRunning);
  try {
    // The step's own spans (if this thread has an SDK) nest under its execution span.
    return await withTraceparent(task.info.traceparent, () => executeStep(registry, task, contextFor(task), controller.signal));
  } finally {
    running.delete(key);
  }
}
