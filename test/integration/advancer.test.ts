import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { uuidv7 } from '../../src/db/ids.js';
import { lockAdvanceableBranches } from '../../src/db/queries/branches.js';
import { claimExecutions, commitSuccesses } from '../../src/db/queries/executions.js';
import { lockRuns, resolveRuns } from '../../src/db/queries/runs.js';
import { createLogger } from '../../src/log.js';
import { Advancer } from '../../src/runtime/advancer.js';
import { DefinitionCache } from '../../src/runtime/definition-cache.js';
import { Wakeups } from '../../src/runtime/wakeups.js';
import { fakeProcess, testDatabase } from '../helpers/db.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// The advancer is driven pass by pass here (no engine), so each test controls exactly what is
// ready to advance and what fails.
const { db, client } = await testDatabase(import.meta.url);
const owner = await fakeProcess(db);

function advancer(options: Parameters<typeof resolveConfig>[0] = {}) {
  return new Advancer({
    sql: db.sql,
    pipeline: 'ChainPipeline',
    index: 0,
    config: resolveConfig(options),
    log: createLogger('silent'),
    wakeups: new Wakeups(),
    definitions: new DefinitionCache(),
    workersElsewhere: false,
  });
}

/** Triggers ChainPipeline and runs its first step by hand (claim + fenced commit). */
async function firstStepDone(input = 1) {
  await db.sql`delete from executions where claimed_at is null`;
  const handle = await client.trigger(ChainPipeline, input);
  const [claim] = await claimExecutions(db.sql, 'ChainPipeline', 1, owner);
  assert.ok(claim);
  await commitSuccesses(db.sql, [{ id: claim.id, token: claim.claim_token, output: String(input * 2) }], owner);
  const { runId } = await handle.status();
  return { handle, runId, stepId: claim.step_id };
}

async function branchOf(runId: string) {
  const [branch] = await db.sql`select id, status, halt_reason, halt_detail, advance_errors, advance_after > clock_timestamp() as deferred from branches where run_id = ${runId}`;
  return branch!;
}

describe('claiming branches', () => {
  test('a branch locked by one advancer is skipped by another, and is not advanced again after it commits', async () => {
    const { runId } = await firstStepDone();
    const other = await db.sql.reserve();
    try {
      await db.sql.begin(async (tx) => {
        const mine = await lockAdvanceableBranches(tx, 'ChainPipeline', 10);
        assert.equal(mine.filter((r) => r.run_id === runId).length, 1);
        await other`begin`;
        const theirs = await lockAdvanceableBranches(other as never, 'ChainPipeline', 10);
        assert.equal(theirs.filter((r) => r.run_id === runId).length, 0, 'SKIP LOCKED: the second advancer does not wait or take it');
        await other`commit`;
      });
      // The first pass really advances it; a second pass finds nothing left to do.
      assert.equal(await advancer().advanceOnce(), 1);
      assert.equal(await advancer().advanceOnce(), 0);
      const steps = await db.sql`select klass, status from steps where run_id = ${runId} order by started_at, id`;
      assert.deepEqual(steps.map((s) => [s.klass, s.status]), [['Double', 'completed'], ['AddOne', 'in_progress']]);
    } finally {
      other.release();
    }
  });
});

describe('routing errors', () => {
  test('an invalid transition type halts the branch at once with transition_invalid', async () => {
    const { runId, stepId } = await firstStepDone();
    await db.sql`update runs set definition = jsonb_set(definition, '{edges,Double.1,type}', '"bogus"') where id = ${runId}`;
    assert.equal(await advancer().advanceOnce(), 1); // fast pass fails, careful pass records it
    assert.equal(await advancer().advanceOnce(), 0);
    const branch = await branchOf(runId);
    assert.equal(branch.status, 'halted');
    assert.equal(branch.halt_reason, 'transition_invalid');
    assert.match(branch.halt_detail, /Invalid transition type `bogus`/);
    const [step] = await db.sql`select status from steps where id = ${stepId}`;
    assert.equal(step!.status, 'completed');
    const [run] = await db.sql`select status from runs where id = ${runId}`;
    assert.equal(run!.status, 'halted');
  });

  test('a failing move is retried with backoff, and halts with advancer_retries_exhausted when the budget is spent', async () => {
    const { runId } = await firstStepDone();
    // A database-side failure on every attempt to create the next step.
    await db.sql.unsafe(`
      create or replace function "${db.schema}".refuse_step() returns trigger language plpgsql as $$
      begin raise exception 'refusing step % for the test', new.klass; end $$;
      create trigger refuse_addone before insert on "${db.schema}".steps
        for each row when (new.klass = 'AddOne') execute function "${db.schema}".refuse_step();`);
    try {
      const a = advancer({ pipeline_advancer: { max_retry: 2 } });
      await a.advanceOnce();
      let branch = await branchOf(runId);
      assert.equal(branch.status, 'in_progress');
      assert.equal(branch.advance_errors, 1);
      assert.equal(branch.deferred, true, 'the next try waits for its backoff');
      assert.match(branch.halt_detail, /refusing step AddOne for the test/);
      for (let i = 0; i < 2; i++) {
        await db.sql`update branches set advance_after = '-infinity' where run_id = ${runId}`; // skip the wait
        await a.advanceOnce();
      }
      branch = await branchOf(runId);
      assert.equal(branch.status, 'halted');
      assert.equal(branch.halt_reason, 'advancer_retries_exhausted');
    } finally {
      await db.sql.unsafe(`drop trigger refuse_addone on "${db.schema}".steps`);
    }
  });

  test('a transient failure is retried and the branch then moves on with a fresh budget', async () => {
    const { runId } = await firstStepDone();
    await db.sql.unsafe(`
      create sequence "${db.schema}".refusals;
      create or replace function "${db.schema}".refuse_twice() returns trigger language plpgsql as $$
      begin if nextval('"${db.schema}".refusals') <= 2 then raise exception 'transient'; end if; return new; end $$;
      create trigger refuse_twice before insert on "${db.schema}".steps
        for each row when (new.klass = 'AddOne') execute function "${db.schema}".refuse_twice();`);
    try {
      const a = advancer();
      for (let i = 0; i < 3; i++) {
        await db.sql`update branches set advance_after = '-infinity' where run_id = ${runId}`;
        await a.advanceOnce();
      }
      const branch = await branchOf(runId);
      assert.equal(branch.status, 'in_progress');
      assert.equal(branch.advance_errors, 0);
      const [{ n }] = await db.sql`select count(*)::int as n from steps where run_id = ${runId} and klass = 'AddOne'`;
      assert.equal(n, 1);
    } finally {
      await db.sql.unsafe(`drop trigger refuse_twice on "${db.schema}".steps`);
    }
  });
});

test('terminal run states are monotonic: resolving a completed or halted run changes nothing', async () => {
  const { runId } = await firstStepDone();
  await db.sql`update branches set status = 'completed' where run_id = ${runId}`;
  assert.deepEqual(await db.sql.begin(async (tx) => (await lockRuns(tx, [runId]), (await resolveRuns(tx, [runId])).map((r) => r.status))), ['completed']);
  await db.sql`update branches set status = 'halted', halt_reason = 'transition_invalid' where run_id = ${runId}`;
  assert.deepEqual(await db.sql.begin(async (tx) => (await lockRuns(tx, [runId]), [...(await resolveRuns(tx, [runId]))])), []);
  const [run] = await db.sql`select r.status, p.status as pipeline_status from runs r join pipelines p on p.id = r.pipeline_id where r.id = ${runId}`;
  assert.deepEqual({ ...run }, { status: 'completed', pipeline_status: 'completed' });
});
