import assert from 'node:assert/strict';
import { test } from 'node:test';
import postgres from 'postgres';
import { resolveConfig } from '../../src/config/config.js';
import { uuidv7 } from '../../src/db/ids.js';
import { claimJobs } from '../../src/db/queries/jobs.js';
import { createLogger } from '../../src/log.js';
import type { ProcessLiveness } from '../../src/runtime/liveness.js';
import { Reaper } from '../../src/runtime/reaper.js';
import { Wakeups } from '../../src/runtime/wakeups.js';
import { fakeProcess, testDatabase } from '../helpers/db.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// The reaper is driven pass by pass against process rows and claims set up by hand.
const { db, client } = await testDatabase(import.meta.url);
const self = uuidv7();

function reaper() {
  const liveness = { processId: self, steadyFor: () => true } as unknown as ProcessLiveness;
  return new Reaper({ sql: db.sql, config: resolveConfig({}), liveness, log: createLogger('silent'), wakeups: new Wakeups() });
}

/** A process row with one claimed step; `quietFor` back-dates its heartbeat (database clock). */
async function processWithClaim(quietFor: string) {
  await db.sql`delete from jobs where claimed_at is null`;
  const owner = await fakeProcess(db);
  await client.trigger(ChainPipeline, 1);
  const [claim] = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: 1 }], owner);
  await db.sql`update processes set last_heartbeat_at = clock_timestamp() - ${quietFor}::interval where id = ${owner}`;
  return { owner, claim: claim! };
}

/** How the claimed attempt of a step ended (its attempt row), or nulls while it has not. */
async function outcomeOf(stepId: string) {
  const [row] = await db.sql`select outcome, error_class, error_message from attempts where step_id = ${stepId} order by id desc limit 1`;
  return row ?? { outcome: null, error_class: null, error_message: null };
}

test('a quiet process whose liveness lock is free is reaped: its claim ends as a crash and re-runs', async () => {
  const { owner, claim } = await processWithClaim('10 seconds');
  const { reaped, recovered } = await reaper().reapOnce();
  assert.deepEqual({ reaped, recovered }, { reaped: 1, recovered: 1 });
  const outcome = await outcomeOf(claim.step_id);
  assert.equal(outcome.outcome, 'crashed');
  assert.equal(outcome.error_class, 'ProcessCrash');
  assert.match(outcome.error_message, /liveness lock free/);
  const [next] = await db.sql`select retry_count, crash_count, claimed_at from jobs where step_id = ${claim.step_id}`;
  assert.deepEqual({ ...next }, { retry_count: 0, crash_count: 1, claimed_at: null });
  const [{ n }] = await db.sql`select count(*)::int as n from processes where id = ${owner}`;
  assert.equal(n, 0);
});

test('a quiet process that still holds its liveness lock is left alone until its heartbeat is stale', async () => {
  const { owner, claim } = await processWithClaim('10 seconds');
  const [{ lock_key }] = await db.sql`select lock_key::text from processes where id = ${owner}`;
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await holder`select pg_advisory_lock(${lock_key}::bigint)`;
    assert.deepEqual(await reaper().reapOnce(), { reaped: 0, recovered: 0 });
    assert.equal((await outcomeOf(claim.step_id)).outcome, null);
    // Past the reaper timeout (300 s), a held lock no longer saves it: its host may have vanished.
    await db.sql`update processes set last_heartbeat_at = clock_timestamp() - interval '301 seconds' where id = ${owner}`;
    assert.deepEqual(await reaper().reapOnce(), { reaped: 1, recovered: 1 });
    assert.match((await outcomeOf(claim.step_id)).error_message, /heartbeat stale/);
  } finally {
    await holder.end();
  }
});

test('a process with a fresh heartbeat is not a candidate, and a reaper never reaps itself', async () => {
  const fresh = await processWithClaim('0 seconds');
  await db.sql`insert into processes (id, pid, host, role, lock_key, last_heartbeat_at)
               values (${self}, 2, 'self', 'supervisor', 42, clock_timestamp() - interval '1 hour')`;
  try {
    assert.deepEqual(await reaper().reapOnce(), { reaped: 0, recovered: 0 });
    assert.equal((await outcomeOf(fresh.claim.step_id)).outcome, null);
    const [{ n }] = await db.sql`select count(*)::int as n from processes where id = ${self}`;
    assert.equal(n, 1);
  } finally {
    await db.sql`delete from processes where id in ${db.sql([self, fresh.owner])}`;
  }
});

test('claims whose owner row is gone are swept once old enough; younger ones are not', async () => {
  const old = await processWithClaim('0 seconds');
  const young = await processWithClaim('0 seconds');
  await db.sql`delete from processes where id in ${db.sql([old.owner, young.owner])}`;
  await db.sql`update jobs set claimed_at = clock_timestamp() - interval '1000 seconds' where id = ${old.claim.id}`;
  const { recovered } = await reaper().reapOnce();
  assert.equal(recovered, 1);
  assert.equal((await outcomeOf(old.claim.step_id)).error_class, 'OrphanedClaim');
  assert.equal((await outcomeOf(young.claim.step_id)).outcome, null);
});
