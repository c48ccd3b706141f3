import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testEngine } from '../helpers/engine.js';
import { attemptsOf } from '../helpers/attempts.js';
import { waitFor } from '../helpers/wait.js';
import { FlakyPipeline, NonJsonPipeline, ThreadKillerPipeline } from '../fixtures/pipelines.js';

const haltDir = mkdtempSync(join(tmpdir(), 'ductwork-halt-'));
const haltFile = join(haltDir, 'halts.jsonl');
process.env.DUCTWORK_TEST_HALT_FILE = haltFile;
const { db, engine, client } = await testEngine(import.meta.url, {
  pipelines: ['FlakyPipeline', 'NonJsonPipeline', 'ThreadKillerPipeline'],
  job_worker: {
    max_retry: { default: 3, FlakyPipeline: 2, NonJsonPipeline: 1 },
    max_crash: { default: 10, ThreadKillerPipeline: { ThreadKiller: 3 } },
    retry_backoff: { initial: 0.15, multiplier: 2, max: 10, jitter: 0 },
    crash_backoff: 0.01,
  },
});
after(() => {
  rmSync(haltDir, { recursive: true, force: true });
});

const executionsOf = (runId: string, klass: string) => attemptsOf(db, runId, klass);

test('a step that throws is retried with exponential backoff and can then succeed', async () => {
  const handle = await client.trigger(FlakyPipeline, { succeedOnAttempt: 3 });
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: { attempt: 3 } });
  const executions = await executionsOf((await handle.status()).runId, 'Flaky');
  assert.deepEqual(executions.map((e) => [e.retry_count, e.crash_count, e.outcome]), [
    [0, 0, 'failure'],
    [1, 0, 'failure'],
    [2, 0, 'success'],
  ]);
  assert.match(executions[0]!.error_message!, /flaky failure on attempt 1/);
  // Eligible-at of each retry is stamped by the database: 0.15 s, then 0.3 s after the failure.
  const gap1 = executions[0]!.retry_at!.getTime() - executions[0]!.finished_at.getTime();
  const gap2 = executions[1]!.retry_at!.getTime() - executions[1]!.finished_at.getTime();
  assert.ok(gap1 >= 140 && gap1 < 1000, `first backoff ${gap1} ms`);
  assert.ok(gap2 >= 290 && gap2 < 1500, `second backoff ${gap2} ms`);
});

test('retries exhausted halt the branch, the run resolves halted, and on_halt runs once', async () => {
  const handle = await client.trigger(FlakyPipeline, { succeedOnAttempt: 0 });
  const report = await handle.wait({ timeoutMs: 15_000 });
  assert.equal(report.status, 'halted');
  assert.deepEqual(report.halts.map((h) => h.reason), ['job_retries_exhausted']);
  const executions = await executionsOf(report.runId, 'Flaky');
  assert.equal(executions.length, 3); // the first run and max_retry = 2 retries
  assert.ok(executions.every((e) => e.outcome === 'failure'));
  const [step] = await db.sql`select status from step_view where run_id = ${report.runId} and klass = 'Flaky'`;
  assert.equal(step!.status, 'failed');
  const [{ done }] = await db.sql`select count(*)::int as done from step_view where run_id = ${report.runId} and klass = 'Done'`;
  assert.equal(done, 0);

  const mine = () => readFileSync(haltFile, 'utf8').trim().split('\n').filter((line) => line.includes(handle.id));
  const lines = await waitFor('the on_halt handler to run', () => {
    try {
      return mine().length > 0 ? mine() : undefined;
    } catch {
      return undefined;
    }
  });
  const halt = JSON.parse(lines[0]!);
  assert.deepEqual(halt, { pipelineId: handle.id, runId: report.runId, pipeline: 'FlakyPipeline', reasons: ['job_retries_exhausted'] });
  // The handler is a durable job: it completes exactly once (wait for its commit, then check nothing else runs it).
  await waitFor('the on_halt step to complete', async () => {
    const [row] = await db.sql`select status from step_view where run_id = ${report.runId} and to_transition = 'on_halt'`;
    return row?.status === 'completed';
  });
  const handlers = (await attemptsOf(db, report.runId, 'RecordHalt')).length;
  assert.equal(handlers, 1);
  assert.equal(mine().length, 1);
});

test('a worker thread that dies mid-step counts as a crash, not a retry', async () => {
  const handle = await client.trigger(ThreadKillerPipeline, { crashes: 2 });
  assert.deepEqual(await handle.result({ timeoutMs: 20_000 }), { done: { crashCount: 2, attempt: 1 } });
  const executions = await executionsOf((await handle.status()).runId, 'ThreadKiller');
  assert.deepEqual(executions.map((e) => [e.retry_count, e.crash_count, e.outcome, e.error_class]), [
    [0, 0, 'crashed', 'ThreadCrash'],
    [0, 1, 'crashed', 'ThreadCrash'],
    [0, 2, 'success', null],
  ]);
});

test('crashes exhausted halt the branch with job_crashes_exhausted', async () => {
  const handle = await client.trigger(ThreadKillerPipeline, { crashes: 99 });
  const report = await handle.wait({ timeoutMs: 20_000 });
  assert.equal(report.status, 'halted');
  assert.deepEqual(report.halts.map((h) => h.reason), ['job_crashes_exhausted']);
  const executions = await executionsOf(report.runId, 'ThreadKiller');
  assert.equal(executions.length, 4); // max_crash 3 for this step: the first run and three crash re-runs
  assert.ok(executions.every((e) => e.retry_count === 0));
});

test('a step returning something that is not JSON fails with a typed error naming the step', async () => {
  const handle = await client.trigger(NonJsonPipeline, 'bigint');
  const report = await handle.wait({ timeoutMs: 15_000 });
  assert.equal(report.status, 'halted');
  assert.deepEqual(report.halts.map((h) => h.reason), ['job_retries_exhausted']);
  const executions = await executionsOf(report.runId, 'ReturnsNonJson');
  assert.equal(executions.length, 2);
  for (const e of executions) {
    assert.equal(e.error_code, 'step_output_not_json');
    assert.equal(e.error_class, 'StepError');
    assert.match(e.error_message!, /Step ReturnsNonJson returned a value that is not JSON at \$\.n: a bigint/);
  }
});
