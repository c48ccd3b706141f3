import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { claimJobs, crashClaims } from '../../src/db/queries/jobs.js';
import { attemptsOf } from '../helpers/attempts.js';
import { fakeProcess } from '../helpers/db.js';
import { startTestEngine, testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import {
  ChainPipeline, EchoPipeline, LateContextPipeline, NulErrorPipeline, OpenExpandPipeline, OverrunPipeline, SetThenThrowPipeline, SleepyPipeline,
} from '../fixtures/pipelines.js';

// The failure path under faults of the data and of the steps themselves (issue 12): nothing the
// database refuses is retried forever, a zombie cannot write, a hung step is stopped.
const dir = mkdtempSync(join(tmpdir(), 'ductwork-failure-'));
const { db, engine, client } = await testEngine(import.meta.url, {
  pipelines: ['NulErrorPipeline', 'EchoPipeline', 'LateContextPipeline', 'SetThenThrowPipeline', 'OpenExpandPipeline', 'ChainPipeline'],
  job_worker: { max_retry: { default: 0, SetThenThrowPipeline: 1 }, count: 20 },
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a write the database refuses', () => {
  test('an error message with a NUL byte is stored sanitized: the run halts with it and stop() returns', async () => {
    const handle = await client.trigger(NulErrorPipeline, null);
    const report = await handle.wait({ timeoutMs: 15_000 });
    assert.equal(report.status, 'halted');
    assert.deepEqual(report.halts.map((h) => h.reason), ['job_retries_exhausted']);
    assert.match(report.halts[0]!.detail!, /failed: job retries exhausted: Error: bad\\0byte/);
    const [attempt] = await attemptsOf(db, report.runId, 'ThrowsNul');
    assert.equal(attempt!.error_message, 'bad\\0byte', 'the NUL is spelt out, not dropped silently');
    // Nothing is left claimed or retried, so another engine's stop has nothing to wait for.
    const [{ open }] = await db.sql`select count(*)::int as open from jobs where run_id = ${report.runId}`;
    assert.equal(open, 0);
    const other = await startTestEngine(db, { pipelines: ['NulErrorPipeline'] });
    await other.stop();
  });

  test('a result the database refuses fails its own step and does not hold back the rest of its batch', async () => {
    // A refusal by the database for one value (as a constraint or a trigger of the user's would).
    await db.sql.unsafe(`
      create function "${db.schema}".refuse_poison() returns trigger language plpgsql as $$
      begin if new.output = '"poison"' then raise exception 'poisoned output refused'; end if; return new; end $$;
      create trigger refuse_poison before insert on "${db.schema}".steps for each row execute function "${db.schema}".refuse_poison();`);
    try {
      await engine.stop(); // queue them all first, so they finish together and commit as one batch
      const handles = await Promise.all(['a', 'b', 'poison', 'c', 'd', 'e'].map((v) => client.trigger(EchoPipeline, v)));
      const runner = await startTestEngine(db, { pipelines: ['EchoPipeline'], job_worker: { max_retry: 0, count: 10 } });
      try {
        for (const [i, v] of ['a', 'b', 'poison', 'c', 'd', 'e'].entries()) {
          const report = await handles[i]!.wait({ timeoutMs: 15_000 });
          if (v !== 'poison') {
            assert.deepEqual(report.output, { done: v }, v);
            continue;
          }
          assert.equal(report.status, 'halted');
          const [attempt] = await attemptsOf(db, report.runId, 'Echo');
          assert.equal(attempt!.error_code, 'step_output_rejected');
          assert.match(attempt!.error_message!, /The database refused to store the output of step Echo: poisoned output refused/);
        }
      } finally {
        await runner.stop();
      }
    } finally {
      await db.sql.unsafe(`drop trigger refuse_poison on "${db.schema}".steps`);
    }
  });
});

describe('context writes are fenced by the claim', () => {
  test("a zombie's write is refused once its claim was taken over", async () => {
    const gate = join(dir, 'zombie-gate');
    const runner = await startTestEngine(db, { pipelines: ['LateContextPipeline'] });
    try {
      const handle = await client.trigger(LateContextPipeline, { gate });
      const { runId } = await handle.status();
      await waitFor('the step to run', async () => (await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`).length > 0);
      // What a reaper does to a presumed-dead owner's claim, while the attempt is in fact still running.
      await db.sql`update jobs set claim_token = gen_random_uuid() where run_id = ${runId}`;
      writeFileSync(gate, '');
      await waitFor('the step to report its write', () => existsSync(`${gate}.out`));
      assert.equal(readFileSync(`${gate}.out`, 'utf8'), 'context_claim_lost');
      const [{ n }] = await db.sql`select count(*)::int as n from tuples where run_id = ${runId}`;
      assert.equal(n, 0, 'nothing was written');
    } finally {
      await runner.stop();
    }
  });

  test('a retry sets the key its failed attempt set; a non-JSON value is context_value_invalid', async () => {
    const runner = await startTestEngine(db, { pipelines: ['SetThenThrowPipeline'], job_worker: { max_retry: 1 } });
    try {
      const handle = await client.trigger(SetThenThrowPipeline, { key: 'k' });
      assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { stored: 2, nonJson: 'context_value_invalid' });
    } finally {
      await runner.stop();
    }
  });
});

test('a step that ignores its timeout has its thread terminated; its thread-mate re-runs on the crash budget', async () => {
  const runner = await startTestEngine(db, {
    pipelines: ['OverrunPipeline', 'SleepyPipeline'],
    job_worker: { threads: 1, max_retry: 0, timeout_grace: 0.3, count: 4 },
  });
  try {
    const mate = await client.trigger(SleepyPipeline, { ms: 1500 });
    await waitFor('the thread-mate to run', async () => (await db.sql`select 1 from jobs where pipeline_id = ${mate.id} and claimed_at is not null`).length > 0);
    const stubborn = await client.trigger(OverrunPipeline, { obey: false });
    const report = await stubborn.wait({ timeoutMs: 15_000 });
    assert.equal(report.status, 'halted');
    const [attempt] = await attemptsOf(db, report.runId, 'Overrun');
    assert.equal(attempt!.error_code, 'step_timeout');
    assert.match(attempt!.error_message!, /did not finish within its timeout of 0.3 s/);
    assert.deepEqual(await mate.result({ timeoutMs: 15_000 }), { done: { ms: 1500 } });
    const mateAttempts = await attemptsOf(db, (await mate.status()).runId, 'Sleepy');
    assert.deepEqual(mateAttempts.map((a) => [a.outcome, a.error_class]), [['crashed', 'ThreadCrash'], ['success', null]]);

    const polite = await client.trigger(OverrunPipeline, { obey: true });
    const politeReport = await polite.wait({ timeoutMs: 15_000 });
    const [politeAttempt] = await attemptsOf(db, politeReport.runId, 'Overrun');
    assert.equal(politeAttempt!.error_code, 'step_timeout', 'a step that stops on its signal fails the same way, without a terminated thread');
  } finally {
    await runner.stop();
  }
});

test('a crash re-run keeps its place in the queue: it is claimed before newer work', async () => {
  const owner = await fakeProcess(db, 9);
  await db.sql`delete from jobs where claimed_at is null`;
  const first = await client.trigger(ChainPipeline, 1);
  const [claim] = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: 1 }], owner);
  for (let i = 0; i < 20; i++) await client.trigger(ChainPipeline, i + 10);
  await crashClaims(db.sql, [{ id: claim!.id, token: claim!.claim_token, again: true, delayMs: 0 }], 'ProcessCrash', 'reaped');
  const [next] = await claimJobs(db.sql, [{ pipeline: 'ChainPipeline', limit: 1 }], owner);
  assert.equal(next!.pipeline_id, first.id, 'the re-run comes first, ahead of the 20 triggered after it');
  assert.equal(next!.crash_count, 1);
  await db.sql`delete from jobs where claimed_at is null or process_id = ${owner}`;
});

test('an open expand of one element returns an array of one, and of none an empty array', async () => {
  await (await startTestEngine(db, { pipelines: ['OpenExpandPipeline'] })).stop();
  const runner = await startTestEngine(db, { pipelines: ['OpenExpandPipeline'] });
  try {
    assert.deepEqual(await (await client.trigger(OpenExpandPipeline, 1)).result({ timeoutMs: 15_000 }), [0]);
    assert.deepEqual(await (await client.trigger(OpenExpandPipeline, 0)).result({ timeoutMs: 15_000 }), []);
    assert.deepEqual(await (await client.trigger(OpenExpandPipeline, 3)).result({ timeoutMs: 15_000 }), [0, 2, 4]);
  } finally {
    await runner.stop();
  }
});
