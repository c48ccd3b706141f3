import { fork, type ChildProcess } from 'node:child_process';
import type { TestSchema } from './db.js';

/** A forked engine process and its engine's process id. */
export interface EngineProcess {
  child: ChildProcess;
  processId: string;
  /** Graceful stop (SIGTERM) and wait for exit. */
  stop(): Promise<void>;
}

/** Forks `engine-process.js` on the test schema and resolves once its engine runs. */
export function spawnEngine(db: TestSchema, options: object = {}, env: NodeJS.ProcessEnv = {}): Promise<EngineProcess> {
  const child = fork(new URL('./engine-process.js', import.meta.url), [], {
    env: { ...process.env, ...env, DUCTWORK_TEST_DB_URL: db.url, DUCTWORK_TEST_SCHEMA: db.schema, DUCTWORK_TEST_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`engine process exited with ${code} before it was ready`)));
    child.on('message', (message: { ready?: boolean; processId?: string }) => {
      if (!message?.ready) return;
      resolve({
        child,
        processId: message.processId!,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
