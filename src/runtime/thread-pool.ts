import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { serializeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ContextPortAnnouncement, ContextRequest, ContextResponse, StepAbort, StepTask, StepTaskResult } from '../../workers/protocol.js';

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
  readonly #ports = new Set<MessagePort>();
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
      this.#ports.add(port);
      port.on('message', (request: ContextRequest) => {
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
   * Runs a step on a worker thread. Rejects only when the thread died, the pool was destroyed, or
   * `terminate` aborted: that terminates the thread running the step (and rejects its thread-mates).
   */
  run(task: StepTask, terminate?: AbortSignal): Promise<StepTaskResult> {
    return this.#pool.run(task, terminate ? { signal: terminate } : {}) as Promise<StepTaskResult>;
  }

  /**
   * Aborts the `this.signal` of one running step (its timeout expired, or its pipeline was
   * cancelled). The main thread does not know which thread runs it, so every thread is told; the
   * one running it aborts it.
   */
  abortStep(executionId: string, reason: string): void {
    const message: StepAbort = { ductworkAbort: { executionId, reason } };
    for (const port of this.#ports) port.postMessage(message);
  }

  /** Terminates every thread at once; running steps are rejected (their claims are crashes). */
  async destroy(): Promise<void> {
    for (const port of this.#ports) port.close();
    this.#ports.clear();
    await this.#pool.destroy();
  }
}
