import { fork, type ChildProcess } from 'node:child_process';
import type { TestSchema } from './db.js';

/** A forked engine process. */
export interface EngineProcess {
  child: ChildProcess;
  /** The engine's process id (its row in `processes`). */
  processId: string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Waits for an exit the test expects (a fault point's kill, say) for at most `timeoutMs`; if it
   * does not come, kills the process and rejects naming `what`, so a test whose fault never fires
   * fails instead of waiting for ever.
   */
  exit(what: string, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches `pattern` (rejects after `timeoutMs`). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Graceful stop (SIGTERM) and wait for exit (killed and rejected after 60 s); a no-op if it already exited. */
  stop(): Promise<void>;
}

// Engines still running when the test file's process exits (a failed or timed-out test) are
// killed with it, so none is left behind working on a schema that is being dropped.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Forks `engine-process.js` on the test schema. Resolves once its engine runs, or with the
 * exit if the process dies first (a fault point can fire before it is ready).
 */
export function spawnEngine(db: TestSchema, options: object = {}, env: NodeJS.ProcessEnv = {}): Promise<EngineProcess> {
  const child = fork(new URL('./engine-process.js', import.meta.url), [], {
    env: { ...process.env, ...env, DUCTWORK_TEST_DB_URL: db.url, DUCTWORK_TEST_SCHEMA: db.schema, DUCTWORK_TEST_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let text = '';
  const watchers = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    if (process.env.DUCTWORK_TEST_LOG) process.stderr.write(chunk);
    for (const watch of watchers) watch();
  };
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      collect(Buffer.from(`[engine process ${child.pid} exited: ${signal ?? code}]\n`));
      resolve({ code, signal });
    }),
  );
  const exit = async (what: string, timeoutMs = 60_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`engine process ${child.pid} did not exit within ${timeoutMs} ms (${what}):\n${text}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const handle = (processId: string): EngineProcess => ({
    child,
    processId,
    exited,
    output: () => text,
    exit,
    waitForOutput(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text)) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`engine process output never matched ${pattern}:\n${text}`));
        }, timeoutMs);
        watchers.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exit('a graceful stop after SIGTERM');
    },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    void exited.then(({ code, signal }) => reject(new Error(`engine process exited (${signal ?? code}) before it was ready:\n${text}`)));
    child.on('message', (message: { ready?: boolean; processId?: string }) => {
      if (message?.ready) resolve(handle(message.processId!));
    });
  });
}
