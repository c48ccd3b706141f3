import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DuctworkError } from '../../src/errors.js';
import { attemptsOf } from '../helpers/attempts.js';
import { testEngine } from '../helpers/engine.js';
import { ChainPipeline, RevivablePipeline } from '../fixtures/pipelines.js';

const { db, engine, client } = await testEngine(import.meta.url, {
    pipelines: ['RevivablePipeline', 'ChainPipeline'],
    job_worker: { max_retry: { default: 3, RevivablePipeline: { Gated: 0 } } },
    pipeline_advancer: { max_retry: 1 },
  });

test('revive re-runs the exhausted step with fresh budgets; the fan-in gets every input and the key is kept', async () => {
  const handle = await client.trigger(RevivablePipeline, 5);
  const halted = await handle.wait({ timeoutMs: 15_000 });
  assert.equal(halted.status, 'halted');
  assert.deepEqual(halted.halts.map((h) => h.reason), ['job_retries_exhausted']);
  const [failed] = await db.sql`select id, idempotency_key from step_view where run_id = ${halted.runId} and klass = 'Gated'`;

  // Open the gate in the halted run's context; revive carries the context over.
  await db.sql`insert into tuples (run_id, key, value) values (${halted.runId}, 'gate_open', 'true')`;
  const revived = await client.revive(handle.id);
  assert.deepEqual([revived.id, revived.pipeline], [handle.id, 'RevivablePipeline'], 'the handle names its pipeline');
  const result = (await handle.result({ timeoutMs: 15_000 })) as { sum: number; gatedKey: string };
  // AddOne's output (11) comes from the first run: it is not re-run, and the combine still gets it.
  assert.deepEqual(result, { sum: 11 + 1000, gatedKey: failed!.idempotency_key });

  const runs = await db.sql`select id, status from runs where pipeline_id = ${handle.id} order by started_at`;
  assert.deepEqual(runs.map((r) => r.status), ['halted', 'completed']);
  const executions = (await attemptsOf(db, runs.map((r) => r.id as string))).map((e) => ({ ...e, revived: e.run_id === runs[1]!.id }));
  assert.equal(executions.filter((e) => e.klass === 'AddOne').length, 1, 'a completed step is not run again');
  assert.equal(executions.filter((e) => e.klass === 'Double').length, 1);
  const gated = executions.filter((e) => e.klass === 'Gated');
  assert.deepEqual(gated.map((e) => [e.revived, e.retry_count, e.outcome]), [[false, 0, 'failure'], [true, 0, 'success']]);
  const [copied] = await db.sql`select source_step_id from step_view where run_id = ${runs[1]!.id} and klass = 'Gated'`;
  assert.equal(copied!.source_step_id, failed!.id);
});

test('revive of a branch halted while routing routes its step again', async () => {
  const handle = await client.trigger(ChainPipeline, 2);
  await db.sql.unsafe(`
    create or replace function "${db.schema}".refuse_addone() returns trigger language plpgsql as $$
    begin raise exception 'refusing AddOne'; end $$;
    create trigger refuse_addone before insert or update on "${db.schema}".jobs
      for each row when (new.klass = 'AddOne' and new.kind = 'run') execute function "${db.schema}".refuse_addone();`);
  let halted;
  try {
    // Routing errors back off (100 ms, 200 ms) before the budget of 1 retry is spent.
    halted = await handle.wait({ timeoutMs: 15_000 });
  } finally {
    await db.sql.unsafe(`drop trigger refuse_addone on "${db.schema}".jobs`);
  }
  assert.deepEqual(halted.halts.map((h) => h.reason), ['advancer_retries_exhausted']);
  await client.revive(handle.id);
  assert.equal(await handle.result({ timeoutMs: 15_000 }), 10); // Double(2)=4, AddOne=5, Double=10
  const runIds = (await db.sql`select id from runs where pipeline_id = ${handle.id}`).map((r) => r.id as string);
  const firstDoubles = (await db.sql`select id from step_view where run_id in ${db.sql(runIds)} and klass = 'Double' and input = '2'`).map((r) => r.id as string);
  const doubles = (await attemptsOf(db, runIds, 'Double')).filter((e) => firstDoubles.includes(e.step_id)).length;
  assert.equal(doubles, 1, 'the step whose routing failed was not run again, only routed');
});

test('revive refuses a pipeline that is not halted', async () => {
  const handle = await client.trigger(ChainPipeline, 1);
  await handle.result({ timeoutMs: 15_000 });
  await assert.rejects(client.revive(handle.id), (error: DuctworkError) => {
    assert.equal(error.code, 'revive_error');
    assert.match(error.message, /Cannot revive completed pipeline .* only halted or cancelled pipelines can be revived/);
    return true;
  });
  await assert.rejects(client.revive('00000000-0000-7000-8000-000000000000'), (error: DuctworkError) => error.code === 'pipeline_not_found');
});
