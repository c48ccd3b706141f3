import { Ductwork, type Engine, type StartOptions } from '../../src/runtime/engine.js';
import { createLogger } from '../../src/log.js';
import { after } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import { freshSchema, type TestSchema } from './db.js';

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

/**
 * The usual start of a test file with an in-process engine: a fresh schema, an engine on it and a
 * client; after the file's tests the engine stops, then the schema is dropped.
 */
export async function testEngine(metaUrl: string, options: StartOptions = {}): Promise<{ db: TestSchema; engine: Engine; client: DuctworkClient }> {
  const db = await freshSchema(metaUrl);
  const engine = await startTestEngine(db, options);
  after(async () => {
    await engine.stop();
    await db.drop();
  });
  return { db, engine, client: new DuctworkClient({ sql: db.sql, schema: db.schema }) };
}
