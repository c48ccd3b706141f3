import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FAULT_POINTS, type FaultPoint } from '../../src/runtime/fault.js';
import { attemptsOf } from '../helpers/attempts.js';
import { testDatabase } from '../helpers/db.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { DividePipeline, SleepyPipeline } from '../fixtures/pipelines.js';

// Each case runs a real engine process with DUCTWORK_FAULT=<point>:kill, so it SIGKILLs itself in
// that gap between two durable writes; a second engine process must then finish the work.
const { db, client } = await testDatabase(import.meta.url);

const options = { pipelines: ['DividePipeline', 'SleepyPipeline'] };

/** Checks what must hold after any crash: every step succeeded once, ran at most twice, every fan-in fired once. */
async function assertRecoveredCleanly(runId: string) {
  const attempts = await attemptsOf(db, runId);
  const steps = await db.sql`select id, klass, to_transition from step_view where run_id = ${runId}`;
  for (const step of steps) {
    const mine = attempts.filter((a) => a.step_id === step.id);
    step.runs = mine.length;
    step.successes = mine.filter((a) => a.outcome === 'success').length;
    assert.equal(step.successes, 1, `${step.klass} succeeded exactly once`);
    assert.ok(step.runs <= 2, `${step.klass} ran ${step.runs} times: at most once more than needed`);
  }
  const fanouts = await db.sql`select width, arrived, fired_branch_id from fanouts where run_id = ${runId}`;
  const fanIns = steps.filter((s) => s.to_transition === 'combine' || s.to_transition === 'collapse');
  assert.equal(fanIns.length, fanouts.length, 'one fan-in step per fan-out: no fan-in fired twice');
  for (const f of fanouts) assert.deepEqual([f.arrived, Boolean(f.fired_branch_id)], [f.width, true]);
  return steps;
}

describe('killed at every named fault point, the work is recovered by another engine process', () => {
  for (const point of FAULT_POINTS.filter((p): p is Exclude<FaultPoint, 'during_reap'> => p !== 'during_reap')) {
    test(point, async () => {
      const doomed = await spawnEngine(db, options, { DUCTWORK_FAULT: `${point}:kill` });
      const handle = await client.trigger(DividePipeline, 5);
      const { signal } = await doomed.exit(`the kill at ${point}`);
      assert.equal(signal, 'SIGKILL', `the engine was killed at ${point}`);
      assert.match(doomed.output(), new RegExp(`fault point ${point} reached`));

      const survivor = await spawnEngine(db, options);
      try {
        assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { values: [11, 20, 11] });
      } finally {
        await survivor.stop();
      }
      await assertRecoveredCleanly((await handle.status()).runId);
    });
  }

  test('during_reap: a reaper killed mid-reap leaves the dead process for the next reaper', async () => {
    const victim = await spawnEngine(db, options);
    const handle = await client.trigger(SleepyPipeline, { ms: 400 });
    const { runId } = await handle.status();
    await waitFor('the step to be claimed by the victim', async () => {
      const [row] = await db.sql`select 1 from jobs where run_id = ${runId} and process_id = ${victim.processId} and claimed_at is not null`;
      return row;
    });
    victim.child.kill('SIGKILL');
    await victim.exited;
    const reaper = await spawnEngine(db, { pipelines: ['DividePipeline'] }, { DUCTWORK_FAULT: 'during_reap:kill' });
    assert.equal((await reaper.exit('the kill during the reap')).signal, 'SIGKILL');
    const [row] = await db.sql`select count(*)::int as n from processes where id = ${victim.processId}`;
    assert.equal(row!.n, 1, 'the interrupted reap rolled back: the dead process is still there to reap');

    const survivor = await spawnEngine(db, options);
    try {
      assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { done: { ms: 400 } });
    } finally {
      await survivor.stop();
    }
    const steps = await assertRecoveredCleanly(runId);
    assert.equal(steps.find((s) => s.klass === 'Sleepy')!.runs, 2);
  });

  for (const [point, action] of [['after_branch_advancement', 'raise'], ['before_job_commit', 'raise'], ['after_job_claim', 'exit']] as const) {
    test(`${point}:${action}`, async () => {
      const engine = await spawnEngine(db, options, { DUCTWORK_FAULT: `${point}:${action}` });
      const handle = await client.trigger(DividePipeline, 5);
      let survivor;
      try {
        if (action === 'exit') {
          assert.equal((await engine.exit(`the exit at ${point}`)).code, 1, 'the engine exited at the fault point');
          survivor = await spawnEngine(db, options);
        }
        // raise: the same engine records the failure (a routing error or a crash) and carries on.
        assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { values: [11, 20, 11] });
      } finally {
        await engine.stop();
        await survivor?.stop();
      }
      assert.match(engine.output(), new RegExp(`fault point ${point} reached, action ${action}`));
      await assertRecoveredCleanly((await handle.status()).runId);
    });
  }
});

