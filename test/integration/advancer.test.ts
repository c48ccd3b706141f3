import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { claimAdvances, claimJobs, commitSuccesses, releaseAdvances } from '../../src/db/queries/jobs.js';
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
    pipelines: ['ChainPipeline'],
    index: 0,
    config: resolveConfig(options),
    processId: owner,
    log: createLogger('silent'),
    wakeups: new Wakeups(),
    definitions: new DefinitionCache(),
    workersElsewhere: false,
    routing: new Set(),
  });
}

/** Triggers ChainPipeline and runs its first step by hand (claim + fenced commit): its branch waits for the advancer. */
async function firstStepDone(input = 1) {
  await db.sql`delete from jobs where claimed_at is null and kind = 'run'`;
  const handle = await client.trigger(ChainPipeline, input);
  const [claim] = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: 1 }], owner);
  assert.ok(claim);
  await commitSuccesses(db.sql, [{ job: claim, output: String(input * 2) }], owner);
  const { runId } = await handle.status();
  return { handle, runId, stepId: claim.step_id };
}

async function branchOf(runId: string) {
  const [branch] = await db.sql`select id, status, halt_reason, halt_detail from branches where run_id = ${runId}`;
  return branch!;
}

/** The advance job of a run's branch: routing errors so far, whether its retry waits, the last error. */
async function advanceJobOf(runId: string) {
  const [job] = await db.sql`
    select retry_count, run_at > clock_timestamp() as deferred, last_error from jobs where run_id = ${runId} and kind = 'advance'`;
  return job;
}

describe('claiming branches', () => {
  test('a branch claimed by one advancer is skipped by another, and is not advanced again after it is routed', async () => {
    const { runId } = await firstStepDone();
    const other = await fakeProcess(db, 2);
    const mine = await claimAdvances(db.sql, ['ChainPipeline'], 10, owner);
    assert.equal(mine.filter((r) => r.run_id === runId).length, 1);
    const theirs = await claimAdvances(db.sql, ['ChainPipeline'], 10, other);
    assert.equal(theirs.filter((r) => r.run_id === runId).length, 0, 'SKIP LOCKED and the claim: the second advancer does not wait or take it');
    await releaseAdvances(db.sql, mine);
    // The first pass really advances it; a second pass finds nothing left to do.
    assert.equal(await advancer().advanceOnce(), 1);
    assert.equal(await advancer().advanceOnce(), 0);
    const steps = await db.sql`select klass, status from step_view where run_id = ${runId} order by started_at, id`;
    assert.deepEqual(steps.map((s) => [s.klass, s.status]), [['Double', 'completed'], ['AddOne', 'in_progress']]);
  });
});

describe('routing errors', () => {
  test('an invalid transition type halts the branch at once with transition_invalid', async () => {
    const { runId, stepId } = await firstStepDone();
    // A run whose stored definition has an edge no engine knows.
    await db.sql`
      with run as (select definition_sha1 as sha1 from runs where id = ${runId}),
      bogus as (
        insert into definitions (sha1, graph)
        select 'bogus-' || d.sha1, jsonb_set(d.graph, '{edges,Double.1,type}', '"bogus"') from definitions d, run where d.sha1 = run.sha1
        on conflict do nothing
      )
      update runs set definition_sha1 = 'bogus-' || (select sha1 from run) where id = ${runId}`;
    await db.sql`update jobs set definition_sha1 = 'bogus-' || definition_sha1 where run_id = ${runId}`;
    assert.equal(await advancer().advanceOnce(), 1); // the batch fails, routing it alone records it
    assert.equal(await advancer().advanceOnce(), 0);
    const branch = await branchOf(runId);
    assert.equal(branch.status, 'halted');
    assert.equal(branch.halt_reason, 'transition_invalid');
    assert.match(branch.halt_detail, /Invalid transition type `bogus`/);
    const [step] = await db.sql`select status from step_view where id = ${stepId}`;
    assert.equal(step!.status, 'completed');
    const [run] = await db.sql`select status from runs where id = ${runId}`;
    assert.equal(run!.status, 'halted');
  });

  test('a failing move is retried with backoff, and halts with advancer_retries_exhausted when the budget is spent', async () => {
    const { runId } = await firstStepDone();
    // A database-side failure on every attempt to start the next step.
    await db.sql.unsafe(`
      create or replace function "${db.schema}".refuse_step() returns trigger language plpgsql as $$
      begin raise exception 'refusing step % for the test', new.klass; end $$;
      create trigger refuse_addone before insert or update on "${db.schema}".jobs
        for each row when (new.klass = 'AddOne' and new.kind = 'run') execute function "${db.schema}".refuse_step();`);
    try {
      const a = advancer({ pipeline_advancer: { max_retry: 2 } });
      await a.advanceOnce();
      assert.equal((await branchOf(runId)).status, 'in_progress');
      let job = await advanceJobOf(runId);
      assert.equal(job!.retry_count, 1);
      assert.equal(job!.deferred, true, 'the next try waits for its backoff');
      assert.match(job!.last_error, /refusing step AddOne for the test/);
      for (let i = 0; i < 2; i++) {
        await db.sql`update jobs set run_at = clock_timestamp() where run_id = ${runId} and kind = 'advance'`; // skip the wait
        await a.advanceOnce();
      }
      const branch = await branchOf(runId);
      assert.equal(branch.status, 'halted');
      assert.equal(branch.halt_reason, 'advancer_retries_exhausted');
      job = await advanceJobOf(runId);
      assert.equal(job, undefined, 'routed for good');
    } finally {
      await db.sql.unsafe(`drop trigger refuse_addone on "${db.schema}".jobs`);
    }
  });

  test('a transient failure is retried and the branch then moves on with a fresh budget', async () => {
    const { runId } = await firstStepDone();
    await db.sql.unsafe(`
      create sequence "${db.schema}".refusals;
      create or replace function "${db.schema}".refuse_twice() returns trigger language plpgsql as $$
      begin if nextval('"${db.schema}".refusals') <= 2 then raise exception 'transient'; end if; return new; end $$;
      create trigger refuse_twice before insert or update on "${db.schema}".jobs
        for each row when (new.klass = 'AddOne' and new.kind = 'run') execute function "${db.schema}".refuse_twice();`);
    try {
      const a = advancer();
      for (let i = 0; i < 3; i++) {
        await db.sql`update jobs set run_at = clock_timestamp() where run_id = ${runId} and kind = 'advance'`;
        await a.advanceOnce();
      }
      const branch = await branchOf(runId);
      assert.equal(branch.status, 'in_progress');
      const [job] = await db.sql`select kind, klass, retry_count from jobs where run_id = ${runId}`;
      assert.deepEqual({ ...job }, { kind: 'run', klass: 'AddOne', retry_count: 0 }, 'the next step runs with fresh budgets');
      const [{ n }] = await db.sql`select count(*)::int as n from step_view where run_id = ${runId} and klass = 'AddOne'`;
      assert.equal(n, 1);
    } finally {
      await db.sql.unsafe(`drop trigger refuse_twice on "${db.schema}".jobs`);
    }
  });

  test('an advancement that keeps dying halts with advancer_crashes_exhausted', async () => {
    const { runId } = await firstStepDone();
    // Each claim that is never routed (the advancer died, or its transaction timed out) is released by a reaper or the stop.
    for (let i = 0; i < 3; i++) {
      const claims = await claimAdvances(db.sql, ['ChainPipeline'], 10, owner);
      assert.ok(claims.some((c) => c.run_id === runId));
      await releaseAdvances(db.sql, claims);
    }
    await advancer({ pipeline_advancer: { max_crash: 2 } }).advanceOnce();
    const branch = await branchOf(runId);
    assert.equal(branch.status, 'halted');
    assert.equal(branch.halt_reason, 'advancer_crashes_exhausted');
    assert.match(branch.halt_detail, /died, timed out or could not be written 3 times \(pipeline_advancer.max_crash 2\)/);
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
