import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Ductwork } from '../../src/runtime/engine.js';
import { attemptsOf } from '../helpers/attempts.js';
import { testDatabase } from '../helpers/db.js';
import { FIXTURE_APP } from '../helpers/engine.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { SleepyPipeline } from '../fixtures/pipelines.js';

const { db, client } = await testDatabase(import.meta.url);

async function claimedBy(processId: string, runIds: string[]) {
  const [row] = await db.sql`
    select count(*)::int as n from jobs where process_id = ${processId} and run_id in ${db.sql(runIds)} and claimed_at is not null and kind = 'run'`;
  return row!.n as number;
}

test('after kill -9 of an engine with steps in flight, a surviving engine at default settings re-claims them within seconds', async () => {
  const victim = await spawnEngine(db, { pipelines: ['SleepyPipeline'], job_worker: { count: 10 } });
  const handles = await Promise.all(Array.from({ length: 10 }, () => client.trigger(SleepyPipeline, { ms: 1500 })));
  const runIds = await Promise.all(handles.map(async (h) => (await h.status()).runId));
  await waitFor('all ten steps in flight on the victim', async () => (await claimedBy(victim.processId, runIds)) === 10);

  // The survivor runs with default timings (1 s heartbeat and reaper period, 1 s polling).
  const survivor = await Ductwork.start({ app: FIXTURE_APP, log: createLogger('silent'), pipelines: ['SleepyPipeline'], database: { url: db.url, schema: db.schema }, job_worker: { count: 10 } });
  try {
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    await waitFor('the survivor to re-claim every step', async () => (await claimedBy(survivor.processId, runIds)) === 10, 30_000);
    const recoveryMs = Date.now() - killedAt;
    process.stdout.write(`# recovery after kill -9: all 10 steps re-claimed in ${recoveryMs} ms\n`);
    assert.ok(recoveryMs < 15_000, `re-claimed in ${recoveryMs} ms`);
    await Promise.all(handles.map((h) => h.result({ timeoutMs: 30_000 })));
    const crashed = (await attemptsOf(db, runIds)).filter((e) => e.outcome === 'crashed');
    assert.equal(crashed.length, 10);
    for (const c of crashed) {
      assert.equal(c.error_class, 'ProcessCrash');
      assert.match(c.error_message!, /liveness lock free/);
      assert.equal(c.retry_count, 0);
    }
    const [gone] = await db.sql`select count(*)::int as n from processes where id = ${victim.processId}`;
    assert.equal(gone!.n, 0, 'the dead process row was removed');
  } finally {
    await survivor.stop();
  }
});

test('a reaped zombie that comes back and commits changes nothing', async () => {
  const zombie = await spawnEngine(db, { pipelines: ['SleepyPipeline'] }, { DUCTWORK_TEST_LOG: 'debug' });
  const handle = await client.trigger(SleepyPipeline, { ms: 1200 });
  const { runId } = await handle.status();
  await waitFor('the zombie to claim the step', async () => (await claimedBy(zombie.processId, [runId])) === 1);
  zombie.child.kill('SIGSTOP'); // frozen: its connections stay open and its lock stays held, but it stops heartbeating

  // The reaper of this engine declares it dead once its heartbeat is older than reaper_timeout.
  const reaper = await Ductwork.start({
    app: FIXTURE_APP, log: createLogger('silent'), pipelines: ['SleepyPipeline'], database: { url: db.url, schema: db.schema },
    supervisor: { polling_timeout: 0.2, reaper_timeout: 2 }, job_worker: { polling_timeout: 0.05 },
  });
  try {
    assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { done: { ms: 1200 } });
    const snapshot = async () => ({
      steps: [...(await db.sql`select id, status, output, finished_at from step_view where run_id = ${runId} order by id`)],
      executions: [...(await attemptsOf(db, runId))],
    });
    const before = await snapshot();
    assert.deepEqual(before.executions.map((e) => [e.outcome, e.error_class]).slice(0, 2), [['crashed', 'ProcessCrash'], ['success', null]]);

    zombie.child.kill('SIGCONT');
    await zombie.waitForOutput(/Claim no longer held; result not recorded/);
    await zombie.waitForOutput(/Process record missing, re-adopting/);
    assert.deepEqual(await snapshot(), before, 'the zombie commit wrote nothing');
  } finally {
    await zombie.stop();
    await reaper.stop();
  }
});

test('role split: an advancer process and two worker processes; a killed worker\'s steps are recovered', async () => {
  const advancer = await spawnEngine(db, { role: 'advancer', pipelines: ['SleepyPipeline'] });
  const workers = await Promise.all([
    spawnEngine(db, { role: 'worker', pipelines: ['SleepyPipeline'], job_worker: { count: 4 } }),
    spawnEngine(db, { role: 'worker', pipelines: ['SleepyPipeline'], job_worker: { count: 4 } }),
  ]);
  try {
    const handles = await Promise.all(Array.from({ length: 12 }, () => client.trigger(SleepyPipeline, { ms: 600 })));
    const runIds = await Promise.all(handles.map(async (h) => (await h.status()).runId));
    await waitFor('both workers to hold steps', async () => (await claimedBy(workers[0]!.processId, runIds)) > 0 && (await claimedBy(workers[1]!.processId, runIds)) > 0);
    workers[0]!.child.kill('SIGKILL');
    await workers[0]!.exited;
    const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 40_000 })));
    assert.equal(results.length, 12);
    const crashed = (await attemptsOf(db, runIds)).filter((e) => e.outcome === 'crashed' && e.process_id === workers[0]!.processId);
    assert.ok(crashed.length > 0, 'the killed worker held steps that were recovered');
    const [roles] = await db.sql`select count(*)::int as n from processes where role in ('advancer', 'worker')`;
    assert.equal(roles!.n, 2, 'the advancer and the surviving worker are registered; the dead worker was reaped');
  } finally {
    await Promise.all([advancer.stop(), ...workers.map((w) => w.stop())]);
  }
});
