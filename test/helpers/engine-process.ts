/**
 * A separate engine process for tests: `fork`ed with DUCTWORK_TEST_DB_URL / DUCTWORK_TEST_SCHEMA
 * (and optional DUCTWORK_TEST_OPTIONS JSON). Sends "ready" over IPC once started; stops
 * gracefully on SIGTERM or an IPC "stop".
 */
import { createLogger } from '../../src/log.js';
import { Ductwork } from '../../src/runtime/engine.js';
import { FIXTURE_APP } from './engine.js';

const options = JSON.parse(process.env.DUCTWORK_TEST_OPTIONS ?? '{}');
const engine = await Ductwork.start({
  app: FIXTURE_APP,
  log: createLogger((process.env.DUCTWORK_TEST_LOG as 'debug') ?? 'silent', `ductwork[${process.pid}]`),
  ...options,
  database: { url: process.env.DUCTWORK_TEST_DB_URL, schema: process.env.DUCTWORK_TEST_SCHEMA, pool_size: 6, ...options.database },
  job_worker: { threads: 2, polling_timeout: 0.05, retry_backoff: { initial: 0.01, multiplier: 1, jitter: 0 }, ...options.job_worker },
  pipeline_advancer: { polling_timeout: 0.05, count: 2, ...options.pipeline_advancer },
  supervisor: { polling_timeout: 0.2, ...options.supervisor },
});
let stopping: Promise<void> | undefined;
const stop = () =>
  (stopping ??= (async () => {
    await engine.stop();
    process.exit(0);
  })());
process.on('SIGTERM', stop);
// The test that forked this engine is gone (it failed or timed out): do not outlive it.
process.on('disconnect', () => void stop());
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
process.send?.({ ready: true, processId: engine.processId });
