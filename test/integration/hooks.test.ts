import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testDatabase } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

const { db, client } = await testDatabase(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'ductwork-hooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the six lifecycle hooks run in order, from the app module and the embedding API; a throwing hook is not fatal', async () => {
  const file = join(dir, 'hooks.log');
  process.env.DUCTWORK_TEST_HOOK_FILE = file;
  const embedded: string[] = [];
  const engine = await startTestEngine(db, {
    pipelines: ['ChainPipeline'],
    pipeline_advancer: { count: 2 },
    hooks: { onSupervisorStart: (info) => void embedded.push(`start ${info.role} ${info.processId}`), onSupervisorStop: () => void embedded.push('stop') },
  });
  try {
    assert.equal(await (await client.trigger(ChainPipeline, 1)).result({ timeoutMs: 15_000 }), 6);
  } finally {
    await engine.stop();
    delete process.env.DUCTWORK_TEST_HOOK_FILE;
  }
  assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n'), [
    'worker_start ductwork.job_worker',
    'advancer_start ductwork.pipeline_advancer.0',
    'advancer_start ductwork.pipeline_advancer.1',
    'supervisor_start ductwork.supervisor',
    'worker_stop ductwork.job_worker',
    'advancer_stop ductwork.pipeline_advancer.0',
    'advancer_stop ductwork.pipeline_advancer.1',
    'supervisor_stop ductwork.supervisor',
  ]);
  assert.deepEqual(embedded, [`start supervisor ${engine.processId}`, 'stop']);
});
