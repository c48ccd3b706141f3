import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attemptsOf } from '../helpers/attempts.js';
import { testEngine } from '../helpers/engine.js';
import { ContextPipeline, FlakyPipeline } from '../fixtures/pipelines.js';

const { db, engine, client } = await testEngine(import.meta.url, { pipelines: ['ContextPipeline', 'FlakyPipeline'] });

test('this.context is a per-run key/value store shared by the run\'s steps, from worker threads', async () => {
  const first = await client.trigger(ContextPipeline, { key: 'score', value: 41 });
  const second = await client.trigger(ContextPipeline, { key: 'score', value: 7 });
  const result = (await first.result({ timeoutMs: 15_000 })) as Record<string, unknown>;
  assert.deepEqual(result, { stored: { value: 41 }, after: { value: 42 }, missing: null, overwriteError: 'context_overwrite' });
  const other = (await second.result({ timeoutMs: 15_000 })) as Record<string, unknown>;
  assert.deepEqual(other.stored, { value: 7 }, "another run's value is not visible");
  const rows = await db.sql`select key, value, first_set_at <= last_set_at as ordered from tuples where run_id = ${(await first.status()).runId}`;
  assert.deepEqual(rows.map((r) => [r.key, JSON.parse(r.value), r.ordered]), [['score', { value: 42 }, true]]);
});

test('this.idempotencyKey is the step id and stays the same across retries', async () => {
  const handle = await client.trigger(ContextPipeline, { key: 'k', value: 1 });
  await handle.result({ timeoutMs: 15_000 });
  const [step] = await db.sql`select id, output from steps where run_id = ${(await handle.status()).runId} and klass = 'WriteContext'`;
  assert.equal(JSON.parse(step!.output).idempotencyKey, step!.id);

  const flaky = await client.trigger(FlakyPipeline, { succeedOnAttempt: 2 });
  await flaky.result({ timeoutMs: 15_000 });
  const executions = await attemptsOf(db, (await flaky.status()).runId, 'Flaky');
  assert.equal(executions.length, 2, 'two executions of one step share one step, hence one idempotency key');
  assert.equal(new Set(executions.map((e) => e.step_id)).size, 1);
});
