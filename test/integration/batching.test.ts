import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uuidv7 } from '../../src/db/ids.js';
import { claimJobs, commitFailure, commitSuccesses } from '../../src/db/queries/jobs.js';
import { attemptsOf } from '../helpers/attempts.js';
import { fakeProcess, testDatabase } from '../helpers/db.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { ChainPipeline, DividePipeline, OrderedExpandPipeline } from '../fixtures/pipelines.js';

// The batched hot path: many claims committed in one statement, chains continued inside that
// commit, branches advanced many per transaction. Each invariant is checked where batches are
// really formed: by the queries directly, and by engine processes killed with dozens of claims
// in flight.
const { db, client } = await testDatabase(import.meta.url);
const owner = await fakeProcess(db);

async function claimChainSteps(count: number) {
  await db.sql`delete from jobs where claimed_at is null`;
  for (let i = 0; i < count; i++) await client.trigger(ChainPipeline, i);
  const claims = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: count }], owner);
  assert.equal(claims.length, count);
  return claims;
}

const next = () => ({ id: uuidv7(), node: 'AddOne.1', klass: 'AddOne', via: 'chain' as const });

describe('a batched commit', () => {
  test('fences every claim on its own: lost claims write nothing and get no successor', async () => {
    const [held, reaped, stale] = await claimChainSteps(3);
    // What a reaper does to a claim of a presumed-dead owner: end it as crashed, queue a re-run.
    assert.equal(await commitFailure(db.sql, {
      job: reaped!, outcome: 'crashed', errorClass: 'ProcessCrash', errorCode: null, errorMessage: 'reaped', errorStack: null, again: true, delayMs: 0,
    }, owner), true);
    const successors = [next(), next(), next()];
    const recorded = await commitSuccesses(db.sql, [
      { job: held!, output: '100', next: successors[0] },
      { job: reaped!, output: '200', next: successors[1] },
      { job: { ...stale!, claim_token: uuidv7() }, output: '300', next: successors[2] },
    ], owner);

    assert.deepEqual([...recorded.committed], [held!.id]);
    assert.deepEqual([...recorded.continued.keys()], [held!.id], 'only the held claim continued its branch');
    const steps = await db.sql`select id, status, output from step_view where id in ${db.sql([held!.step_id, reaped!.step_id, stale!.step_id])}`;
    const byId = new Map(steps.map((s) => [s.id, s]));
    assert.deepEqual({ ...byId.get(held!.step_id) }, { id: held!.step_id, status: 'completed', output: '100' });
    assert.deepEqual({ ...byId.get(reaped!.step_id) }, { id: reaped!.step_id, status: 'in_progress', output: null });
    assert.deepEqual({ ...byId.get(stale!.step_id) }, { id: stale!.step_id, status: 'in_progress', output: null });
    const created = await db.sql`select id, input, status, branch_id from step_view where id in ${db.sql(successors.map((s) => s.id))}`;
    assert.equal(created.length, 1, 'only the held claim continued its branch');
    assert.deepEqual([created[0]!.id, created[0]!.input, created[0]!.status], [successors[0]!.id, '100', 'in_progress']);
    const [claim] = await db.sql`select id::text, claim_token, process_id, claimed_at is not null as claimed from jobs where step_id = ${successors[0]!.id}`;
    assert.deepEqual({ ...claim }, { id: held!.id, claim_token: recorded.continued.get(held!.id), process_id: owner, claimed: true });
  });

  test('leaves the step to the advancer when the committing process has no process row', async () => {
    const ghost = await fakeProcess(db, 2);
    await db.sql`delete from jobs where claimed_at is null`;
    await client.trigger(ChainPipeline, 7);
    const [claim] = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: 1 }], ghost);
    assert.ok(claim);
    await db.sql`delete from processes where id = ${ghost}`; // reaped while the step ran
    const successor = next();
    const recorded = await commitSuccesses(db.sql, [{ job: claim, output: '14', next: successor }], ghost);
    assert.deepEqual([...recorded.committed], [claim.id], 'the result itself is recorded');
    assert.equal(recorded.continued.size, 0, 'but no claim is created for an owner no reaper can see');
    const [step] = await db.sql`select status, output from step_view where id = ${claim.step_id}`;
    assert.deepEqual({ ...step }, { status: 'advancing', output: '14' });
    const [{ n }] = await db.sql`select count(*)::int as n from step_view where id = ${successor.id}`;
    assert.equal(n, 0);
  });
});

/** Every step of these runs succeeded exactly once, ran at most twice, and every fan-in fired once. */
async function assertEachStepOnce(runIds: string[]) {
  const attempts = await attemptsOf(db, runIds);
  const steps = await db.sql`select id, klass, to_transition from step_view where run_id in ${db.sql(runIds)}`;
  for (const step of steps) {
    const mine = attempts.filter((a) => a.step_id === step.id);
    step.runs = mine.length;
    step.successes = mine.filter((a) => a.outcome === 'success').length;
    assert.equal(step.successes, 1, `${step.klass} ${step.id} succeeded exactly once`);
    assert.ok(step.runs <= 2, `${step.klass} ran ${step.runs} times`);
  }
  const fanouts = await db.sql`select id, width, arrived, fired_branch_id from fanouts where run_id in ${db.sql(runIds)}`;
  const fanIns = steps.filter((s) => s.to_transition === 'combine' || s.to_transition === 'collapse');
  assert.equal(fanIns.length, fanouts.length, 'one fan-in step per fan-out');
  for (const f of fanouts) assert.deepEqual([f.arrived, Boolean(f.fired_branch_id)], [f.width, true]);
}

describe('killed in the middle of a batch, an engine loses nothing', () => {
  // Job commits are many, so @3 (the third commit, when the first claims' results and successors
  // pile up) always comes. Advancer batches may be as few as two when the advancer keeps up (all
  // 51 arrivals in one or two batches), so their points fire on the first arrival.
  const options = { pipelines: ['ChainPipeline', 'DividePipeline', 'OrderedExpandPipeline'], job_worker: { count: 40 } };
  for (const point of ['before_job_commit', 'after_job_commit', 'after_fan_in_arrival', 'after_branch_advancement'] as const) {
    test(point, async () => {
      // Triggered before the engine starts, so its first claims and commits are large batches.
      const chains = await Promise.all(Array.from({ length: 30 }, (_, i) => client.trigger(ChainPipeline, i)));
      const divides = await Promise.all(Array.from({ length: 5 }, (_, i) => client.trigger(DividePipeline, i)));
      const expands = await Promise.all(Array.from({ length: 3 }, () => client.trigger(OrderedExpandPipeline, 12)));
      const nth = point === 'before_job_commit' || point === 'after_job_commit' ? 3 : 1;
      const doomed = await spawnEngine(db, options, { DUCTWORK_FAULT: `${point}:kill@${nth}` });
      assert.equal((await doomed.exit(`the kill at ${point}@${nth}`)).signal, 'SIGKILL');

      const lostWithIt = await db.sql`select count(*)::int as n from jobs where process_id = ${doomed.processId} and claimed_at is not null`;
      const survivor = await spawnEngine(db, options);
      try {
        for (const [i, h] of chains.entries()) assert.equal(await h.result({ timeoutMs: 30_000 }), (i * 2 + 1) * 2);
        for (const [i, h] of divides.entries()) assert.deepEqual(await h.result({ timeoutMs: 30_000 }), { values: [i * 2 + 1, i * 4, i * 2 + 1] });
        const inOrder = Array.from({ length: 12 }, (_, i) => i * 2 + 1);
        for (const h of expands) assert.deepEqual(await h.result({ timeoutMs: 30_000 }), inOrder);
      } finally {
        await survivor.stop();
      }
      if (point === 'before_job_commit' || point === 'after_job_commit') {
        // The crash cut through a batch: several claims (run, or created as successors and not yet run) were open.
        assert.ok(lostWithIt[0]!.n > 1, `${lostWithIt[0]!.n} claims were open when the engine died`);
      }
      const runIds = await Promise.all([...chains, ...divides, ...expands].map(async (h) => (await h.status()).runId));
      await assertEachStepOnce(runIds);
    });
  }
});

test('fan-ins fire exactly once when their arrivals are split across small concurrent batches of two engines', async () => {
  const options = { pipelines: ['OrderedExpandPipeline', 'DividePipeline'], job_worker: { count: 30 }, pipeline_advancer: { count: 3, batch_size: 4 } };
  const [one, two] = await Promise.all([spawnEngine(db, options), spawnEngine(db, options)]);
  try {
    for (let round = 0; round < 3; round++) {
      const expands = await Promise.all(Array.from({ length: 6 }, () => client.trigger(OrderedExpandPipeline, 25)));
      const divides = await Promise.all(Array.from({ length: 6 }, (_, i) => client.trigger(DividePipeline, i)));
      const inOrder = Array.from({ length: 25 }, (_, i) => i * 2 + 1);
      for (const h of expands) assert.deepEqual(await h.result({ timeoutMs: 30_000 }), inOrder);
      for (const [i, h] of divides.entries()) assert.deepEqual(await h.result({ timeoutMs: 30_000 }), { values: [i * 2 + 1, i * 4, i * 2 + 1] });
      await assertEachStepOnce(await Promise.all([...expands, ...divides].map(async (h) => (await h.status()).runId)));
    }
    const [{ owners }] = await db.sql`
      select count(distinct process_id)::int as owners from steps where klass = 'AddOne' and process_id in ${db.sql([one.processId, two.processId])}`;
    assert.equal(owners, 2, 'both engines ran fan-out members, so their advancers raced on the same fan-ins');
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});
