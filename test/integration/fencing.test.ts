import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/db/ids.js';
import { claimJobs, commitFailure, commitSuccesses, type ClaimedJob } from '../../src/db/queries/jobs.js';
import { fakeProcess, testDatabase } from '../helpers/db.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// No engine runs here: the test plays the job worker with the same queries, so it can put a
// claim in every state a zombie could find it in.
const { db, client } = await testDatabase(import.meta.url);
const owner = await fakeProcess(db);
const chain = (limit: number) => [{ pipeline: 'ChainPipeline', limit }];

async function claimOne() {
  await db.sql`delete from jobs where claimed_at is null`; // leftovers of earlier tests must not be claimed first
  await client.trigger(ChainPipeline, 1);
  const [claim] = await claimJobs(db.sql, chain(1), owner);
  assert.ok(claim, 'a due job was claimed');
  return claim;
}

async function snapshot(stepId: string) {
  const [step] = await db.sql`select status, output from step_view where id = ${stepId}`;
  const attempts = await db.sql`select id, finished_at, outcome from attempts where step_id = ${stepId} order by id`;
  const jobs = await db.sql`select id::text as id, kind, claim_token, claimed_at, retry_count, crash_count from jobs where step_id = ${stepId}`;
  return { step, attempts, jobs };
}

const crash = (job: ClaimedJob) => ({ job, outcome: 'crashed' as const, errorClass: 'ProcessCrash', errorCode: null, errorMessage: 'Reaped from orphaned process', errorStack: null, again: true, delayMs: 0 });

test('a zombie whose claim was taken over commits nothing', async () => {
  const claim = await claimOne();
  // What a reaper does to a dead owner's claim: end it as crashed and queue the step again.
  assert.equal(await commitFailure(db.sql, crash(claim), owner), true);
  const before = await snapshot(claim.step_id);

  const committed = await commitSuccesses(db.sql, [{ job: claim, output: '"zombie"' }], owner);
  assert.equal(committed.committed.size, 0);
  const failed = await commitFailure(db.sql, { ...crash(claim), outcome: 'failure', errorClass: 'Error', errorMessage: 'late' }, owner);
  assert.equal(failed, false);
  assert.deepEqual(await snapshot(claim.step_id), before);
  assert.equal(before.step!.status, 'in_progress');
  assert.equal(before.step!.output, null);
  assert.equal(before.attempts.length, 1, 'the crash is recorded once');
  assert.equal(before.jobs.length, 1);
  assert.equal(before.jobs[0]!.claimed_at, null, 'the step is queued again, unclaimed');
  assert.equal(before.jobs[0]!.crash_count, 1);
});

test('a commit with a token that is not the current claim writes nothing', async () => {
  const claim = await claimOne();
  const committed = await commitSuccesses(db.sql, [{ job: { ...claim, claim_token: uuidv7() }, output: '1' }], owner);
  assert.equal(committed.committed.size, 0);
  const { step, jobs } = await snapshot(claim.step_id);
  assert.equal(step!.status, 'in_progress');
  assert.equal(jobs[0]!.claim_token, claim.claim_token, 'still the claim it was');
});

test('a result is recorded once: committing the same claim twice changes nothing the second time', async () => {
  const claim = await claimOne();
  const first = await commitSuccesses(db.sql, [{ job: claim, output: '2' }], owner);
  assert.deepEqual([...first.committed], [claim.id]);
  const after1 = await snapshot(claim.step_id);
  const second = await commitSuccesses(db.sql, [{ job: claim, output: '3' }], owner);
  assert.equal(second.committed.size, 0);
  assert.deepEqual(await snapshot(claim.step_id), after1);
  assert.equal(after1.step!.status, 'advancing');
  assert.equal(after1.step!.output, '2');
});

test('a batch commit records the claims still held and skips the lost ones', async () => {
  const held = await claimOne();
  const lost = await claimOne();
  const committed = await commitSuccesses(db.sql, [
    { job: held, output: '10' },
    { job: { ...lost, claim_token: uuidv7() }, output: '20' },
  ], owner);
  assert.deepEqual([...committed.committed], [held.id]);
  assert.equal((await snapshot(held.step_id)).step!.output, '10');
  assert.equal((await snapshot(lost.step_id)).step!.output, null);
});

test('a claimed job is not claimed again, and a future one is not claimed yet', async () => {
  const claim = await claimOne();
  const again = await claimJobs(db.sql, chain(10), owner);
  assert.ok(!again.some((c) => c.id === claim.id));
  await db.sql`update jobs set run_at = clock_timestamp() + interval '5 seconds' where claimed_at is null`;
  assert.equal((await claimJobs(db.sql, chain(10), owner)).length, 0);
});

test('a process without a live process row claims nothing', async () => {
  await db.sql`delete from jobs where claimed_at is null`;
  await client.trigger(ChainPipeline, 1);
  assert.equal((await claimJobs(db.sql, chain(10), uuidv7())).length, 0);
  assert.equal((await claimJobs(db.sql, chain(10), owner)).length, 1);
});
