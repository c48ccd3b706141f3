import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { serializeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ContextPortAnnouncement, ContextRequest, ContextResponse, StepAbort, StepRunning, StepTask, StepTaskResult } from '../../workers/protocol.js';

/** Young-generation ceiling of each worker thread, in MB. */
const YOUNG_GENERATION_MB = 8;

/** Worker threads for `job_worker.threads` (0 = one per CPU). */
export function threadCount(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism());
}

/** Answers a context request from a worker thread (reads and writes the run's tuples). */
export type ContextHandler = (request: ContextRequest) => Promise<string | null>;

/**
 * The Piscina pool of worker threads that run user step code. A rejected `run` means the
 * thread died or was terminated (an infrastructure crash); user errors come back as values.
 */
export class StepThreadPool {
  readonly #pool: Piscina;
  /** Each live worker thread's port, with its thread id. */
  readonly #ports = new Map<MessagePort, number>();
  /** Watched steps (those with a timeout) by execution id: the thread running each. */
  readonly #watched = new Map<string, number>();
  readonly threads: number;

  constructor(options: { appUrl: string; threads: number; concurrency: number; context: ContextHandler; log: Logger }) {
    this.threads = threadCount(options.threads);
    this.#pool = new Piscina({
      filename: new URL('../../workers/step-runner.js', import.meta.url).href,
      workerData: { app: options.appUrl },
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 2 ** 31 - 1,
      // Async steps share a thread: I/O-bound work should not need one thread per step.
      concurrentTasksPerWorker: Math.max(1, Math.ceil(options.concurrency / this.threads)),
      atomics: 'disabled',
      // Step payloads are short-lived garbage; under load V8 would grow each thread's young
      // generation to its default ceiling and keep it (RSS +60-80 MB over 100k steps with a flat
      // live heap). A smaller one costs a few more (cheap) scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.#pool.on('message', (message: ContextPortAnnouncement) => {
      const port = (message as { ductworkContextPort?: MessagePort }).ductworkContextPort;
      if (!port) return;
      this.#ports.set(port, message.threadId);
      port.on('message', (request: ContextRequest | StepRunning) => {
        if ('ductworkRunning' in request) {
          this.#watched.set(request.ductworkRunning, message.threadId);
          return;
        }
        options.context(request).then(
          (value) => port.postMessage({ id: request.id, ok: true, value } satisfies ContextResponse),
          (error) => port.postMessage({ id: request.id, ok: false, error: serializeError(error) } satisfies ContextResponse),
        );
      });
      port.on('close', () => this.#ports.delete(port));
    });
    this.#pool.on('error', (error: unknown) => options.log.error('Worker thread error', { error: serializeError(error) }));
  }

  /**
   * Runs a step on a worker thread. Rejects only when the thread died or the pool was destroyed.
   * A `watched` step (one with a timeout) tells which thread runs it, so that it can be stopped.
   *
   * No AbortSignal goes to Piscina: it runs an abortable task alone on its thread, which would
   * take away the async steps' sharing of threads.
   */
  async run(task: StepTask): Promise<StepTaskResult> {
    try {
      return (await this.#pool.run(task)) as StepTaskResult;
    } finally {
      if (task.watched) this.#watched.delete(task.info.executionId);
    }
  }

  /**
   * Aborts the `this.signal` of one running step (its timeout expired). The thread running it is
   * told (every thread, when it is not known yet).
   */
  abortStep(executionId: string, reason: string): void {
    const message: StepAbort = { ductworkAbort: { executionId, reason } };
    const thread = this.#watched.get(executionId);
    for (const [port, id] of this.#ports) if (thread === undefined || id === thread) port.postMessage(message);
  }

  /**
   * Terminates the worker thread running a watched step (one that ignored its abort): the step and
   * every other step on that thread are rejected, and Piscina starts a new thread. False when the
   * step is not running on a known thread.
   */
  terminateStep(executionId: string): boolean {
    const thread = this.#watched.get(executionId);
    const worker = thread === undefined ? undefined : this.#pool.threads.find((t) => t.threadId === thread);
    if (!worker) return false;
    void worker.terminate();
    return true;
  }

  /** Terminates every thread at once; running steps are rejected (their claims are crashes). */
  async destroy(): Promise<void> {
    for (const port of this.#ports.keys()) port.close();
    this.#ports.clear();
    await this.#pool.destroy();
  }
}
