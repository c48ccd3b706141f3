import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/db/ids.js';
import { claimExecutions, commitFailure, commitSuccesses } from '../../src/db/queries/executions.js';
import { fakeProcess, testDatabase } from '../helpers/db.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// No engine runs here: the test plays the job worker with the same queries, so it can put a
// claim in every state a zombie could find it in.
const { db, client } = await testDatabase(import.meta.url);
const owner = await fakeProcess(db);

async function claimOne() {
  await db.sql`delete from executions where claimed_at is null`; // leftovers of earlier tests must not be claimed first
  await client.trigger(ChainPipeline, 1);
  const [claim] = await claimExecutions(db.sql, 'ChainPipeline', 1, owner);
  assert.ok(claim, 'a due execution was claimed');
  return claim;
}

async function snapshot(stepId: string) {
  const [step] = await db.sql`select status, output from steps where id = ${stepId}`;
  const executions = await db.sql`select id, completed_at, outcome from executions where step_id = ${stepId} order by id`;
  return { step, executions };
}

test('a zombie whose claim was taken over commits nothing', async () => {
  const claim = await claimOne();
  // What a reaper does to a dead owner's claim: finish it as crashed and enqueue a new execution.
  const reaped = await commitFailure(db.sql, {
    id: claim.id, token: claim.claim_token, outcome: 'crashed', errorClass: 'ProcessCrash', errorCode: null,
    errorMessage: 'Reaped from orphaned process', errorStack: null, again: true, delayMs: 0,
  });
  assert.equal(reaped, true);
  const before = await snapshot(claim.step_id);

  const committed = await commitSuccesses(db.sql, [{ id: claim.id, token: claim.claim_token, output: '"zombie"' }], owner);
  assert.equal(committed.committed.size, 0);
  const failed = await commitFailure(db.sql, {
    id: claim.id, token: claim.claim_token, outcome: 'failure', errorClass: 'Error', errorCode: null,
    errorMessage: 'late', errorStack: null, again: true, delayMs: 0,
  });
  assert.equal(failed, false);
  assert.deepEqual(await snapshot(claim.step_id), before);
  assert.equal(before.step!.status, 'in_progress');
  assert.equal(before.step!.output, null);
  assert.equal(before.executions.length, 2);
});

test('a commit with a token that is not the current claim writes nothing', async () => {
  const claim = await claimOne();
  const committed = await commitSuccesses(db.sql, [{ id: claim.id, token: uuidv7(), output: '1' }], owner);
  assert.equal(committed.committed.size, 0);
  const { step, executions } = await snapshot(claim.step_id);
  assert.equal(step!.status, 'in_progress');
  assert.equal(executions[0]!.completed_at, null);
});

test('a result is recorded once: committing the same claim twice changes nothing the second time', async () => {
  const claim = await claimOne();
  const first = await commitSuccesses(db.sql, [{ id: claim.id, token: claim.claim_token, output: '2' }], owner);
  assert.deepEqual([...first.committed], [claim.id]);
  const after1 = await snapshot(claim.step_id);
  const second = await commitSuccesses(db.sql, [{ id: claim.id, token: claim.claim_token, output: '3' }], owner);
  assert.equal(second.committed.size, 0);
  assert.deepEqual(await snapshot(claim.step_id), after1);
  assert.equal(after1.step!.status, 'advancing');
  assert.equal(after1.step!.output, '2');
});

test('a batch commit records the claims still held and skips the lost ones', async () => {
  const held = await claimOne();
  const lost = await claimOne();
  const committed = await commitSuccesses(db.sql, [
    { id: held.id, token: held.claim_token, output: '10' },
    { id: lost.id, token: uuidv7(), output: '20' },
  ], owner);
  assert.deepEqual([...committed.committed], [held.id]);
  assert.equal((await snapshot(held.step_id)).step!.output, '10');
  assert.equal((await snapshot(lost.step_id)).step!.output, null);
});

test('a claimed execution is not claimed again, and a future one is not claimed yet', async () => {
  const claim = await claimOne();
  const again = await claimExecutions(db.sql, 'ChainPipeline', 10, owner);
  assert.ok(!again.some((c) => c.id === claim.id));
  await db.sql`update executions set run_at = clock_timestamp() + interval '5 seconds' where claimed_at is null`;
  assert.equal((await claimExecutions(db.sql, 'ChainPipeline', 10, owner)).length, 0);
});

test('a process without a live process row claims nothing', async () => {
  await db.sql`delete from executions where claimed_at is null`;
  await client.trigger(ChainPipeline, 1);
  assert.equal((await claimExecutions(db.sql, 'ChainPipeline', 10, uuidv7())).length, 0);
  assert.equal((await claimExecutions(db.sql, 'ChainPipeline', 10, owner)).length, 1);
});
