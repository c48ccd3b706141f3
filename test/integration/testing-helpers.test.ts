import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertTriggered, pipelinesTriggeredDuring, runStep, runToCompletion } from '../../src/testing/index.js';
import { DATABASE_URL, testDatabase } from '../helpers/db.js';
import { FIXTURE_APP } from '../helpers/engine.js';
import { ChainPipeline, DividePipeline, Double, EnrichAllUsersData, Flaky, ReturnsNonJson, WriteContext } from '../fixtures/pipelines.js';
import type { Json } from '../../src/definition/json.js';

const { db, client } = await testDatabase(import.meta.url);

test('runStep runs a step inline with the engine\'s JSON rules and an in-memory context', async () => {
  assert.equal(await runStep(Double, 21), 42);
  const context = new Map<string, Json>();
  const out = await runStep(WriteContext, { key: 'k', value: 5 }, { context, idempotencyKey: '01a20c27-546c-7415-b652-10354413c1f8' });
  assert.deepEqual(out, { key: 'k', overwriteError: 'context_overwrite', idempotencyKey: '01a20c27-546c-7415-b652-10354413c1f8' });
  assert.deepEqual(context.get('k'), { value: 5 });
  await assert.rejects(runStep(ReturnsNonJson, 'map'), (error: Error & { code?: string }) => error.code === 'step_output_not_json' && /a Map instance/.test(error.message));
  await assert.rejects(runStep(Flaky, { succeedOnAttempt: 0 }), /flaky failure on attempt 1/);
  assert.deepEqual(await runStep(Flaky, { succeedOnAttempt: 2 }, { attempt: 2 }), { attempt: 2 });
});

test('runToCompletion runs a pipeline on a real engine and returns its output and every step', async () => {
  const run = await runToCompletion(DividePipeline, 5, { app: FIXTURE_APP, databaseUrl: DATABASE_URL, schema: `${db.schema}_run`, timeoutMs: 20_000 });
  try {
    assert.deepEqual(run.output, { values: [11, 20, 11] });
    assert.equal(run.report.status, 'completed');
    assert.deepEqual(run.steps.map((s) => [s.step, s.transition]), [['Double', 'start'], ['AddOne', 'divide'], ['Double', 'divide'], ['AddOne', 'divide'], ['Pair', 'combine']]);
    assert.deepEqual(run.steps.at(-1)!.input, [11, 20, 11]);
  } finally {
    await db.sql.unsafe(`drop schema if exists "${db.schema}_run" cascade`);
  }
});

test('assertTriggered and pipelinesTriggeredDuring see what code triggered', async () => {
  assert.deepEqual(await pipelinesTriggeredDuring(client, () => client.trigger(ChainPipeline, 1)), ['ChainPipeline']);
  await assertTriggered(client, ChainPipeline, () => client.trigger(ChainPipeline, 2));
  await assertTriggered(client, 'ChainPipeline', async () => {
    await client.trigger(ChainPipeline, 3);
    await client.trigger(ChainPipeline, 4);
  }, { times: 2 });
  await assert.rejects(assertTriggered(client, ChainPipeline, () => client.trigger(EnrichAllUsersData, { count: 1 })), /expected to trigger pipeline ChainPipeline but triggered EnrichAllUsersData/);
  await assert.rejects(assertTriggered(client, ChainPipeline, () => undefined), /but triggered none/);
});
