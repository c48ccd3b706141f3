import { Ductwork, type Engine, type StartOptions } from '../../src/runtime/engine.js';
import { createLogger } from '../../src/log.js';
import type { TestSchema } from './db.js';

/** The fixture app module every engine test loads (compiled path). */
export const FIXTURE_APP = new URL('../fixtures/pipelines.js', import.meta.url).href;

/** Starts an engine on a test schema with fast polling and retries; override anything. */
export function startTestEngine(db: TestSchema, options: StartOptions = {}): Promise<Engine> {
  return Ductwork.start({
    app: FIXTURE_APP,
    log: createLogger((process.env.DUCTWORK_TEST_LOG as 'debug') ?? 'silent'),
    ...options,
    database: { url: db.url, schema: db.schema, pool_size: 6, ...options.database },
    job_worker: { threads: 2, polling_timeout: 0.05, retry_backoff: { initial: 0.01, multiplier: 1, jitter: 0 }, shutdown_timeout: 5, ...options.job_worker },
    pipeline_advancer: { polling_timeout: 0.05, count: 2, ...options.pipeline_advancer },
    supervisor: { polling_timeout: 0.2, ...options.supervisor },
  });
}
