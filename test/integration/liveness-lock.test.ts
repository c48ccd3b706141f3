/**
 * The liveness lock's own connection (issue 12): losing it pauses claiming until the lock is held
 * again, both logged; a failing start says what failed, not that a row could not be removed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import postgres from 'postgres';
import { DATABASE_URL, freshSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { recordingLogger } from '../helpers/recording-log.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline } from '../fixtures/pipelines.js';
import { DuctworkClient } from '../../src/client/client.js';

test('a lost liveness connection pauses claiming until the lock is held again, and both are logged', async () => {
  const db = await freshSchema(import.meta.url);
  const log = recordingLogger();
  const engine = await startTestEngine(db, { pipelines: ['ChainPipeline'], log });
  const other = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    const client = new DuctworkClient({ sql: db.sql, schema: db.schema });
    assert.equal(await (await client.trigger(ChainPipeline, 1)).result({ timeoutMs: 20_000 }), 6, 'claims before the loss');
    const [{ lock_key: lockKey }] = await db.sql`select lock_key::text from processes where id = ${engine.processId}`;
    // Another session takes the lock the moment the engine's session ends, so the engine cannot take it back yet.
    const [terminated] = await other`
      select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = ${'ductwork-liveness ' + engine.processId}`;
    assert.equal(terminated!.done, true);
    await waitFor('the old session to end', async () => (await other`select pg_try_advisory_lock(${lockKey}::bigint) as got`)[0]!.got === true);
    await waitFor('the loss to be logged', () => log.lines.some((l) => /Liveness connection lost/.test(l.message)));

    const handle = await client.trigger(ChainPipeline, 2);
    const { runId } = await handle.status();
    const beats = async () => (await db.sql`select last_heartbeat_at from processes where id = ${engine.processId}`)[0]!.last_heartbeat_at as Date;
    const first = await beats();
    await waitFor('a few heartbeats while the lock is held elsewhere', async () => (await beats()).getTime() > first.getTime() + 2 * 200, 20_000);
    const [job] = await db.sql`select claimed_at from jobs where run_id = ${runId}`;
    assert.equal(job!.claimed_at, null, 'nothing is claimed without the lock');
    assert.equal(engine.processId, (await db.sql`select id from processes where id = ${engine.processId}`)[0]!.id, 'the process keeps its row');

    await other`select pg_advisory_unlock(${lockKey}::bigint)`;
    assert.equal(await handle.result({ timeoutMs: 20_000 }), 10, 'claiming resumes once the lock is ours again');
    assert.ok(log.lines.some((l) => /Liveness lock held again; claiming resumes/.test(l.message)));
  } finally {
    await other.end();
    await engine.stop();
    await db.drop();
  }
});

test('a start that fails reports its own error, not "Could not remove the process row"', async () => {
  const db = await freshSchema(import.meta.url, '_unmigrated');
  await db.sql.unsafe(`drop schema "${db.schema}" cascade`);
  await db.sql.unsafe(`create schema "${db.schema}"`);
  const log = recordingLogger();
  try {
    await assert.rejects(startTestEngine(db, { pipelines: ['ChainPipeline'], log }), /migrat/i);
    assert.deepEqual(log.lines.filter((l) => /Could not remove the process row/.test(l.message)), []);
  } finally {
    await db.drop();
  }
});
