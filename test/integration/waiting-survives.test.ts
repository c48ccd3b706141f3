/**
 * Waiting work is rows, not memory: every engine is killed (SIGKILL) while a delay and an event
 * wait are pending, and a new engine finishes both at the right time. And a keyed trigger fired
 * from two processes at once yields one pipeline per key.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { after, test } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import { freshSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { ApprovalPipeline, ApprovedOrderPipeline, LongDelayPipeline } from '../fixtures/time-pipelines.js';

const TIME_APP = new URL('../fixtures/time-pipelines.js', import.meta.url).href;
const db = await freshSchema(import.meta.url);
after(() => db.drop());
const client = new DuctworkClient({ sql: db.sql, schema: db.schema });

test('a delay, an event wait and a child survive the kill of every engine and resume on a new one at the right time', async () => {
  const first = await spawnEngine(db, { app: TIME_APP });
  const delayed = await client.trigger(LongDelayPipeline, { n: 1 });
  const approval = await client.trigger(ApprovalPipeline, { order: 'o-9' });
  const parent = await client.trigger(ApprovedOrderPipeline, { order: 'o-10' });
  const childId = async () => (await db.sql`select id from pipelines where parent_pipeline_id = ${parent.id}`)[0]?.id as string | undefined;
  await waitFor('all three to wait', async () => {
    const child = await childId();
    return (await delayed.status()).waiting.some((w) => w.kind === 'delay') && (await approval.status()).waiting.some((w) => w.kind === 'event') &&
      child !== undefined && (await client.status(child)).waiting.some((w) => w.kind === 'event') &&
      (await parent.status()).waiting.some((w) => w.event === `child:${child}`);
  });
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  const [before] = await db.sql`select count(*)::int as n from processes`;
  assert.equal(before!.n, 1, 'the killed engine left its row behind, as a crash does');

  const second = await startTestEngine(db, { app: TIME_APP });
  after(() => second.stop());
  const receipt = await client.signal(approval.id, 'approved', { approvedBy: 'after-the-crash' });
  assert.equal(receipt.outcome, 'delivered');
  assert.deepEqual(await approval.result({ timeoutMs: 20_000 }), { done: true, approvedBy: 'after-the-crash', escalated: null });
  await client.signal((await childId())!, 'approved', { approvedBy: 'child-signal' });
  assert.deepEqual(await parent.result({ timeoutMs: 20_000 }), { receipt: 'approved by child-signal' });
  assert.deepEqual(await delayed.result({ timeoutMs: 20_000 }), { n: 20 });
  const [gap] = await db.sql`
    select extract(epoch from (b.started_at - a.finished_at))::float8 as s
    from steps a join steps b on b.run_id = a.run_id join runs r on r.id = a.run_id
    where r.pipeline_id = ${delayed.id} and a.klass = 'Stamp' and b.klass = 'Later'`;
  assert.ok((gap!.s as number) >= 5, `the delay was kept across the crash (gap ${gap!.s} s)`);
});

test('a keyed trigger fired from two processes at once yields one pipeline per key', async () => {
  const keys = Array.from({ length: 25 }, (_, i) => `race-${i}`);
  const spawnTrigger = () => {
    const child = fork(new URL('../helpers/trigger-process.js', import.meta.url), [], {
      env: { ...process.env, DUCTWORK_TEST_DB_URL: db.url, DUCTWORK_TEST_SCHEMA: db.schema, DUCTWORK_TEST_KEYS: JSON.stringify(keys) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
    const ids = ready.then(() => new Promise<Record<string, string>>((resolve) => child.once('message', (m: { ids: Record<string, string> }) => resolve(m.ids))));
    return { child, ready, ids };
  };
  const a = spawnTrigger();
  const b = spawnTrigger();
  await Promise.all([a.ready, b.ready]);
  a.child.send('go');
  b.child.send('go');
  const [idsA, idsB] = await Promise.all([a.ids, b.ids]);
  assert.deepEqual(idsA, idsB, 'both processes got the same pipeline for every key');
  const rows = await db.sql`select key, count(*)::int as n from pipelines where key like 'race-%' group by key`;
  assert.equal(rows.length, keys.length);
  for (const row of rows) assert.equal(row.n, 1, `one pipeline for ${row.key}`);
  const runs = await db.sql`select count(*)::int as n from runs r join pipelines p on p.id = r.pipeline_id where p.key like 'race-%'`;
  assert.equal(runs[0]!.n, keys.length, 'and one run each: the losing trigger wrote nothing');
});
