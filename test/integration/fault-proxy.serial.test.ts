/**
 * The engine under network faults, injected by a TCP proxy between it and PostgreSQL (issue 12):
 * a slow database, a blackhole (nothing forwarded, nothing closed) of one engine while another
 * runs, and a storm of connection resets. Each test waits on conditions; the only fixed duration
 * is the fault's own (a 10 s blackhole).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuctworkClient } from '../../src/client/client.js';
import { DuctworkClient as Client } from '../../src/client/client.js';
import type { PipelineHandle } from '../../src/client/handle.js';
import type { Engine } from '../../src/runtime/engine.js';
import { attemptsOf } from '../helpers/attempts.js';
import { freshSchema, type TestSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { recordingLogger } from '../helpers/recording-log.js';
import { waitFor } from '../helpers/wait.js';
import { CountedPipeline } from '../fixtures/pipelines.js';

const db = await freshSchema(import.meta.url);
const client: DuctworkClient = new Client({ sql: db.sql, schema: db.schema });
const dir = mkdtempSync(join(tmpdir(), 'ductwork-fault-proxy-'));
after(async () => {
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sessions of one engine process: its pool, its liveness connection and its LISTEN connection. */
async function backendsOf(schema: TestSchema, engine: Engine): Promise<number> {
  const [row] = await schema.sql`select count(*)::int as n from pg_stat_activity where application_name like ${'%' + engine.processId}`;
  return row!.n as number;
}

/** How often each step ran: files `<idempotencyKey>.<executionId>` written by CountedStep. */
function executionsByStep(subdir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of readdirSync(subdir)) {
    const key = file.split('.')[0]!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const handlesOf = new Map<string, PipelineHandle<unknown>>();

async function triggerRuns(subdir: string, count: number, ms: number): Promise<string[]> {
  const runIds = [];
  for (let i = 0; i < count; i++) {
    const handle = await client.trigger(CountedPipeline, { dir: subdir, ms, n: 0 });
    const { runId } = await handle.status();
    handlesOf.set(runId, handle);
    runIds.push(runId);
  }
  return runIds;
}

async function completedRuns(runIds: string[]): Promise<number> {
  const [row] = await db.sql`select count(*)::int as n from runs where id in ${db.sql(runIds)} and status = 'completed'`;
  return row!.n as number;
}

async function completedSteps(runIds: string[], processId?: string): Promise<number> {
  const [row] = await db.sql`
    select count(*)::int as n from steps where run_id in ${db.sql(runIds)} and status = 'completed'
    ${processId === undefined ? db.sql`` : db.sql`and process_id = ${processId}`}`;
  return row!.n as number;
}

/**
 * Nothing lost, nothing run twice beyond at-least-once: every run completed with the output of
 * all three steps; every step ran at most once more than the crashes and failures recorded for it.
 */
async function assertAtLeastOnce(runIds: string[], subdir: string): Promise<void> {
  for (const runId of runIds) {
    const output = (await handlesOf.get(runId)!.result({ timeoutMs: 10_000 })) as { n: number };
    assert.equal(output.n, 3, 'each run went through its three steps');
  }
  const attempts = await attemptsOf(db, runIds);
  const successes = attempts.filter((a) => a.outcome === 'success');
  assert.equal(successes.length, runIds.length * 3, 'one completed attempt per step');
  const executions = executionsByStep(subdir);
  for (const success of successes) {
    const ran = executions.get(success.step_id) ?? 0;
    const recorded = attempts.filter((a) => a.step_id === success.step_id).length;
    assert.ok(ran >= 1 && ran <= recorded, `step ${success.step_id} ran ${ran} time(s) for ${recorded} recorded attempt(s)`);
  }
}

test('every query 200 ms slower, and a table locked meanwhile: runs complete, and the engine never holds more sessions than pool_size plus its two dedicated ones', async () => {
  const subdir = mkdtempSync(join(dir, 'slow-'));
  const proxy = await FaultProxy.start(db.url);
  proxy.latency(200);
  const log = recordingLogger();
  // A short call_timeout: waiting on the lock would pass it, which used to replace every pool
  // (and the abandoned queries kept their sessions). Now the server's lock_timeout ends the wait.
  const poolSize = 3;
  const engine = await startTestEngine(db, {
    pipelines: ['CountedPipeline'], log,
    database: { url: proxy.url(db.url), pool_size: poolSize, call_timeout: 2 },
    job_worker: { count: 10 },
  });
  let most = 0;
  let samples = 0;
  let sample = true;
  const sampling = (async () => {
    while (sample) {
      most = Math.max(most, await backendsOf(db, engine));
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const runIds = await triggerRuns(subdir, 12, 10);
    await waitFor('first progress', async () => (await completedSteps(runIds)) > 0, 60_000);
    const lockTimeouts = () => log.lines.filter((l) => /lock timeout/.test(String(l.fields.error ?? ''))).length;
    await db.sql.begin(async (tx) => {
      await tx`lock table jobs in exclusive mode`;
      await waitFor('the engine to give up on the lock a few times', () => lockTimeouts() >= 3, 60_000);
    });
    await waitFor('every run to complete through the slow link', async () => (await completedRuns(runIds)) === runIds.length, 120_000);
    await assertAtLeastOnce(runIds, subdir);
  } finally {
    const taken = samples;
    sample = false;
    await sampling;
    await engine.stop();
    await proxy.close();
    assert.ok(taken > 10, `sampled pg_stat_activity (${taken} samples)`);
  }
  assert.ok(most <= poolSize + 2, `at most ${poolSize} + 2 sessions, saw ${most}`);
  assert.ok(most >= 3, `the pool was in use (saw ${most} sessions)`);
});

test('a 10 s blackhole of one engine while another runs: the silent engine is not reaped, none of its steps re-runs, all runs complete', async () => {
  const subdir = mkdtempSync(join(dir, 'blackhole-'));
  const proxy = await FaultProxy.start(db.url);
  const silentLog = recordingLogger();
  // The silent engine's calls hit their deadline (3 s) during the blackhole; its session, and
  // with it its liveness lock, stays open on the server, so the other engine's reaper (grace
  // 3 × 0.2 s) must see it alive however stale its heartbeat (reaper_timeout 300 s).
  const silent = await startTestEngine(db, {
    pipelines: ['CountedPipeline'], log: silentLog,
    database: { url: proxy.url(db.url), call_timeout: 3 },
    job_worker: { count: 4 },
  });
  const other = await startTestEngine(db, { pipelines: ['CountedPipeline'], job_worker: { count: 4 } });
  try {
    const runIds = await triggerRuns(subdir, 30, 150);
    await waitFor('the silent engine to hold claims', async () => {
      const [row] = await db.sql`select count(*)::int as n from jobs where process_id = ${silent.processId} and kind = 'run' and claimed_at is not null`;
      return row!.n > 0;
    });
    proxy.blackhole();
    const blackholed = performance.now();
    const otherBefore = await completedSteps(runIds, other.processId);
    // What holds while the silent engine is cut off: its process row stays, it is never reaped.
    let sampledRow = 0;
    await waitFor('the other engine to keep working during the blackhole', async () => {
      const [row] = await db.sql`select count(*)::int as n from processes where id = ${silent.processId}`;
      assert.equal(row!.n, 1, 'the silent engine is not reaped while its lock is held');
      sampledRow++;
      return (await completedSteps(runIds, other.processId)) > otherBefore + 3 && performance.now() - blackholed >= 10_000;
    }, 60_000);
    const silentBeforeHeal = await completedSteps(runIds, silent.processId);
    proxy.heal();
    const healed = new Date();
    await waitFor('every run to complete', async () => (await completedRuns(runIds)) === runIds.length, 90_000);

    assert.ok(sampledRow > 5);
    const attempts = await attemptsOf(db, runIds);
    assert.deepEqual(attempts.filter((a) => a.error_class === 'ProcessCrash' || a.error_class === 'OrphanedClaim'), [], 'nobody reaped anybody');
    // The silent engine finished what it was running when it was cut off, under its own claims.
    const [late] = await db.sql`select count(*)::int as n from steps where run_id in ${db.sql(runIds)} and process_id = ${silent.processId} and finished_at >= ${healed}`;
    assert.ok(late!.n >= 1 || (await completedSteps(runIds, silent.processId)) > silentBeforeHeal, 'the silent engine committed after the heal');
    const executions = executionsByStep(subdir);
    for (const [step, times] of executions) assert.equal(times, 1, `step ${step} ran once`);
    await assertAtLeastOnce(runIds, subdir);
    assert.ok(!silentLog.lines.some((l) => /re-adopting/.test(l.message)), 'the silent engine kept its process row');
  } finally {
    proxy.heal();
    await Promise.all([silent.stop(), other.stop()]);
    await proxy.close();
  }
});

// In a process of its own: a reset can hit postgres.js's write-after-close crash (porsager/postgres#1154,
// #1208), which the engine's guard absorbs, but which node:test would report as this file's failure.
test('a storm of connection resets during a run: all runs complete, nothing is lost, the liveness lock is taken again', async () => {
  const subdir = mkdtempSync(join(dir, 'resets-'));
  const proxy = await FaultProxy.start(db.url);
  const engine = await spawnEngine(db, {
    pipelines: ['CountedPipeline'],
    database: { url: proxy.url(db.url), pool_size: 4 },
    job_worker: { count: 6 },
  }, { DUCTWORK_TEST_LOG: 'warn' });
  try {
    const runIds = await triggerRuns(subdir, 30, 20);
    for (let i = 0; i < 10; i++) {
      const before = await completedSteps(runIds);
      if (before === runIds.length * 3) break;
      // Reset as soon as the engine has made progress since the last reset.
      await waitFor(`progress before reset ${i + 1}`, async () => (await completedSteps(runIds)) > before, 60_000);
      proxy.resetAll();
    }
    assert.ok(proxy.resets >= 3, `connections were reset (${proxy.resets} times)`);
    await waitFor('every run to complete after the storm', async () => (await completedRuns(runIds)) === runIds.length, 90_000).catch(async (error: Error) => {
      const stuck = await db.sql`select r.status as run, j.kind, j.node, j.run_at, j.claimed_at, j.process_id, j.retry_count, j.crash_count, j.last_error, now() as now
        from runs r left join jobs j on j.run_id = r.id where r.id in ${db.sql(runIds)} and r.status <> 'completed'`;
      throw new Error(`${error.message}\nunfinished: ${JSON.stringify(stuck)}\nengine output:\n${engine.output()}`);
    });
    await assertAtLeastOnce(runIds, subdir);
    assert.match(engine.output(), /Liveness connection lost/, 'the lost lock was noticed');
    await engine.waitForOutput(/Liveness lock held again/, 30_000);
    // A reset connection's backend shows in pg_stat_activity until it has noticed the close and
    // exited, and a pool closed by the driver-crash guard may finish opening a connection it had
    // started (it is then idle until idle_timeout, 60 s): on two fresh-clone runs 7 and 8 sessions
    // were seen 0 and 15 s after the storm. The bound must hold once those are gone.
    const sessions = async () => (await db.sql`select count(*)::int as n from pg_stat_activity where application_name like ${'%' + engine.processId}`)[0]!.n as number;
    const settled = await waitFor('the reset sessions to exit', async () => ((await sessions()) <= 4 + 2 ? true : undefined), 90_000).catch(() => false);
    const seen = await db.sql`select application_name, state, left(query, 60) as query from pg_stat_activity where application_name like ${'%' + engine.processId}`;
    assert.ok(settled, `at most pool_size + 2 sessions once the storm is over (saw ${seen.length}: ${JSON.stringify(seen)})`);
    assert.equal(engine.child.exitCode, null, 'the engine process is still running');
  } finally {
    await engine.stop();
    await proxy.close();
  }
});

// A claim statement whose connection was reset can still commit on the server after the engine
// first looked for claims it does not know (the server notices the client is gone only when it
// replies). Such a claim is made here by hand, after that first look, on a job that is not due.
test('a claim that commits after the engine looked for lost claims is found by a later look and re-enqueued', async () => {
  const subdir = mkdtempSync(join(dir, 'late-'));
  const proxy = await FaultProxy.start(db.url);
  proxy.latency(100); // so that a claim query is in flight when the connections are reset
  const engine = await spawnEngine(db, {
    pipelines: ['CountedPipeline'],
    database: { url: proxy.url(db.url), pool_size: 2 },
    job_worker: { count: 2 },
  }, { DUCTWORK_TEST_LOG: 'warn' });
  try {
    const later = await client.trigger(CountedPipeline, { dir: subdir, ms: 1, n: 0 }, { delay: 3600 });
    const { runId: laterRun } = await later.status();
    const [job] = await db.sql`select id::text as id from jobs where run_id = ${laterRun}`;
    assert.ok(job, 'the delayed run waits as a job');

    await waitFor('a failed claim', async () => {
      proxy.resetAll();
      return /Job claim failed/.test(engine.output()) || (await new Promise((resolve) => setTimeout(() => resolve(false), 150)));
    }, 30_000);
    // The first look follows the failure at once; a run that completes after it shows it is done.
    const [after] = await triggerRuns(subdir, 1, 1);
    await waitFor('a run after the failure', async () => (await completedRuns([after!])) === 1, 30_000);

    // The late commit: the delayed job claimed by this engine, under a token it never saw.
    const [claimed] = await db.sql`
      update jobs set claimed_at = clock_timestamp(), claim_token = gen_random_uuid(), process_id = ${engine.processId}
      where id = ${job!.id} returning claim_token`;
    assert.ok(claimed);
    await waitFor('the late claim to be re-enqueued', async () => {
      const [row] = await db.sql`select claimed_at from jobs where id = ${job!.id}`;
      return row && row.claimed_at === null;
    }, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\nengine output:\n${engine.output()}`);
    });
    const attempts = await attemptsOf(db, laterRun);
    assert.deepEqual(attempts.map((a) => a.error_class), ['AbandonedClaim'], 'recorded as a crash of the claim, on the crash budget');
    const [job2] = await db.sql`select run_at > now() + interval '50 minutes' as still_delayed from jobs where id = ${job!.id}`;
    assert.equal(job2!.still_delayed, true, 'the re-enqueued job keeps its due time');
  } finally {
    await engine.stop();
    await proxy.close();
  }
});
