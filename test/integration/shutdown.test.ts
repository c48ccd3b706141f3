import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attemptsOf } from '../helpers/attempts.js';
import { testDatabase } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { SleepyPipeline } from '../fixtures/pipelines.js';

const { db, client } = await testDatabase(import.meta.url);

async function waitUntilRunning(runId: string) {
  await waitFor('the step to be claimed', async () => {
    const [row] = await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`;
    return row;
  });
}

test('stop() lets a running step finish within job_worker.shutdown_timeout, and is idempotent', async () => {
  const engine = await startTestEngine(db, { pipelines: ['SleepyPipeline'], job_worker: { shutdown_timeout: 10 } });
  const handle = await client.trigger(SleepyPipeline, { ms: 400 });
  const { runId } = await handle.status();
  await waitUntilRunning(runId);
  const stopping = [engine.stop(), engine.stop()];
  assert.equal(stopping[0], stopping[1], 'a second stop() returns the same promise');
  await Promise.all(stopping);
  const [execution] = await attemptsOf(db, runId, 'Sleepy');
  assert.equal(execution!.outcome, 'success');
  const [{ processes }] = await db.sql`select count(*)::int as processes from processes where id = ${engine.processId}`;
  assert.equal(processes, 0, 'the process row is removed on a clean stop');
});

test('steps still running at the shutdown timeout are abandoned and re-enqueued at once, without using a retry', async () => {
  const engine = await startTestEngine(db, { pipelines: ['SleepyPipeline'], job_worker: { shutdown_timeout: 0.2 } });
  const handle = await client.trigger(SleepyPipeline, { ms: 60_000 });
  const { runId } = await handle.status();
  await waitUntilRunning(runId);
  const started = Date.now();
  await engine.stop();
  assert.ok(Date.now() - started < 10_000, 'stop did not wait for the step');
  const executions = await attemptsOf(db, runId, 'Sleepy');
  assert.equal(executions.length, 1);
  assert.equal(executions[0]!.outcome, 'crashed');
  assert.equal(executions[0]!.error_class, 'AbandonedClaim');
  const [queued] = await db.sql`
    select retry_count, crash_count, claimed_at, run_at <= clock_timestamp() as due from jobs where run_id = ${runId} and klass = 'Sleepy'`;
  assert.deepEqual([queued!.retry_count, queued!.crash_count, queued!.claimed_at, queued!.due], [0, 1, null, true]);

  // The next engine picks the step up and the pipeline completes.
  await db.sql`update jobs set input = ${JSON.stringify({ ms: 10 })} where run_id = ${runId} and klass = 'Sleepy'`;
  const next = await startTestEngine(db, { pipelines: ['SleepyPipeline'] });
  try {
    assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: { ms: 10 } });
  } finally {
    await next.stop();
  }
});
