/**
 * A separate process that triggers keyed pipelines: forked with DUCTWORK_TEST_DB_URL,
 * DUCTWORK_TEST_SCHEMA and DUCTWORK_TEST_KEYS (JSON array). Waits for "go" over IPC so several
 * processes fire at the same moment, then sends back { key: pipelineId } and exits.
 */
import { DuctworkClient } from '../../src/client/client.js';
import { DelayPipeline } from '../fixtures/time-pipelines.js';

const client = new DuctworkClient({ databaseUrl: process.env.DUCTWORK_TEST_DB_URL!, schema: process.env.DUCTWORK_TEST_SCHEMA! });
const keys = JSON.parse(process.env.DUCTWORK_TEST_KEYS ?? '[]') as string[];
await client.check();
process.send!({ ready: true });
process.once('message', async () => {
  const handles = await Promise.all(keys.map((key) => client.trigger(DelayPipeline, { n: process.pid }, { key })));
  process.send!({ ids: Object.fromEntries(handles.map((h, i) => [keys[i], h.id])) }, () => {
    void client.close().then(() => process.exit(0));
  });
});
