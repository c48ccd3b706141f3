import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { keepTimes } from '../../src/config/retention.js';
import { deleteExpiredPipelines } from '../../src/db/queries/pipelines.js';
import { createLogger } from '../../src/log.js';
import { RetentionCleaner } from '../../src/runtime/cleaner.js';
import { startTestEngine } from '../helpers/engine.js';
import { testDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline, ExpandPipeline, FlakyPipeline, SleepyPipeline } from '../fixtures/pipelines.js';

// Retention deletes finished pipelines whose keep-time passed, with every row of theirs, and nothing else.
const { db, client } = await testDatabase(import.meta.url);
const engine = await startTestEngine(db, {
  pipelines: ['ChainPipeline', 'ExpandPipeline', 'FlakyPipeline', 'SleepyPipeline'],
  job_worker: { max_retry: 0 },
  retention: { interval: 0 }, // this file drives the cleaner by hand; one test starts its own
});
const config = (retention: object) => resolveConfig({ database: { schema: db.schema }, retention });

/** Makes a pipeline look finished `seconds` ago (database clock). */
const age = (id: string, seconds: number) => db.sql`update pipelines set updated_at = clock_timestamp() - make_interval(secs => ${seconds}) where id = ${id}`;

/** Rows of a pipeline in every table that holds them. */
async function rowsOf(id: string) {
  const runs = (await db.sql`select id from runs where pipeline_id = ${id}`).map((r) => r.id as string);
  const counts: Record<string, number> = { pipelines: (await db.sql`select 1 from pipelines where id = ${id}`).length, runs: runs.length };
  for (const table of ['branches', 'steps', 'jobs', 'attempts', 'fanouts', 'tuples']) {
    const [row] = runs.length === 0 ? [{ n: 0 }] : await db.sql`select count(*)::int as n from ${db.sql(table)} where run_id in ${db.sql(runs)}`;
    counts[table] = row!.n as number;
  }
  return counts;
}
const none = { pipelines: 0, runs: 0, branches: 0, steps: 0, jobs: 0, attempts: 0, fanouts: 0, tuples: 0 };

async function clean(retention: object) {
  for (;;) {
    const outcome = await deleteExpiredPipelines(db.sql, db.schema, keepTimes(config(retention)), 500);
    if (outcome !== 'busy') return outcome;
  }
}

describe('a cleaner pass', () => {
  test('deletes expired completed and halted pipelines with every row of theirs, and keeps the young ones', async () => {
    const expand = await client.trigger(ExpandPipeline, 5);
    const chain = await client.trigger(ChainPipeline, 1);
    const halted = await client.trigger(FlakyPipeline, { succeedOnAttempt: 0 });
    assert.equal(await expand.result({ timeoutMs: 15_000 }), 25);
    await chain.result({ timeoutMs: 15_000 });
    await halted.wait({ timeoutMs: 15_000 });
    await waitFor('the on_halt step to finish', async () => (await rowsOf(halted.id)).jobs === 0);
    const before = await rowsOf(expand.id);
    assert.ok(before.steps >= 12 && before.fanouts === 1 && before.branches >= 6, JSON.stringify(before));
    assert.ok((await rowsOf(halted.id)).attempts >= 1);

    await age(expand.id, 3600);
    await age(halted.id, 3600);
    // Completed pipelines are kept one minute, halted ones two hours.
    assert.deepEqual(await clean({ completed: '1m', halted: '2h' }), { deleted: 1, steps: 0 });
    assert.deepEqual(await rowsOf(expand.id), none, 'the expired completed pipeline is gone, with its runs, branches, steps and fan-outs');
    assert.equal((await rowsOf(chain.id)).pipelines, 1, 'a young one stays');
    assert.equal((await rowsOf(halted.id)).pipelines, 1, 'a halted one is kept by its own keep-time');
    assert.deepEqual(await clean({ completed: '1m', halted: '30m' }), { deleted: 1, steps: 0 });
    assert.deepEqual(await rowsOf(halted.id), none);
  });

  test('never deletes a pipeline in progress, one with a queued step, or one being revived', async () => {
    const running = await client.trigger(SleepyPipeline, { ms: 60_000 });
    const done = await client.trigger(ChainPipeline, 2);
    await done.result({ timeoutMs: 15_000 });
    await age(running.id, 86_400);
    await age(done.id, 86_400);
    // A finished pipeline whose on_halt step (or any step) is still queued keeps its rows.
    const [run] = await db.sql`select id, definition_sha1 from runs where pipeline_id = ${done.id}`;
    await db.sql`
      insert into jobs (kind, pipeline_klass, pipeline_id, run_id, definition_sha1, step_id, node, klass, to_transition, input, idempotency_key, run_at)
      values ('run', 'ChainPipeline', ${done.id}, ${run!.id}, ${run!.definition_sha1}, gen_random_uuid(), '$on_halt', 'Done', 'on_halt', 'null', gen_random_uuid(), 'infinity')`;
    assert.deepEqual(await clean({ completed: '1m' }), { deleted: 0, steps: 0 });
    await db.sql`delete from jobs where run_id = ${run!.id}`;
    // A revive holds the pipeline's row lock while it reads what it copies: the cleaner skips it.
    const reviving = db.sql.begin(async (tx) => {
      await tx`select 1 from pipelines where id = ${done.id} for update`;
      assert.deepEqual(await clean({ completed: '1m' }), { deleted: 0, steps: 0 });
    });
    await reviving;
    assert.equal((await rowsOf(running.id)).pipelines, 1);
    assert.deepEqual(await clean({ completed: '1m' }), { deleted: 1, steps: 0 });
    assert.equal((await rowsOf(running.id)).pipelines, 1, 'in progress, however old');
  });

  test('per-pipeline keep-times, 0 = forever, and a dry run that deletes nothing', async () => {
    const a = await client.trigger(ChainPipeline, 3);
    const b = await client.trigger(ExpandPipeline, 2);
    await Promise.all([a.result({ timeoutMs: 15_000 }), b.result({ timeoutMs: 15_000 })]);
    await age(a.id, 7200);
    await age(b.id, 7200);
    assert.deepEqual(await clean({ completed: { default: 0, ExpandPipeline: '1h' } }), { deleted: 1, steps: 0 });
    assert.equal((await rowsOf(a.id)).pipelines, 1, 'kept forever by the default 0');
    assert.equal((await rowsOf(b.id)).pipelines, 0);
    const dry = await client.prune({ olderThan: '1h', dryRun: true });
    assert.ok(dry.pipelines >= 1 && dry.steps >= 3, JSON.stringify(dry));
    assert.equal((await rowsOf(a.id)).pipelines, 1, 'a dry run deletes nothing');
    const real = await client.prune({ olderThan: 3600 });
    assert.equal(real.pipelines, dry.pipelines);
    assert.equal((await rowsOf(a.id)).pipelines, 0);
    await assert.rejects(client.prune({ olderThan: 'soon' }), /olderThan must be a duration/);
  });
});

test('cleaner passes of several engines never overlap: one engine cleans at a time', async () => {
  const c = await client.trigger(ChainPipeline, 4);
  await c.result({ timeoutMs: 15_000 });
  await age(c.id, 7200);
  const holder = await db.sql.reserve();
  try {
    // Another engine's pass in progress holds the lock.
    await holder`begin`;
    await holder`select pg_advisory_xact_lock(hashtextextended(${'ductwork.retention.' + db.schema}, 0))`;
    assert.equal(await deleteExpiredPipelines(db.sql, db.schema, keepTimes(config({ completed: '1h' })), 500), 'busy');
    assert.equal((await rowsOf(c.id)).pipelines, 1);
    await holder`rollback`;
  } finally {
    holder.release();
  }
  assert.deepEqual(await deleteExpiredPipelines(db.sql, db.schema, keepTimes(config({ completed: '1h' })), 500), { deleted: 1, steps: 0 });
});

test("a running engine's cleaner deletes pipelines once their keep-time passes", async () => {
  const cleaner = new RetentionCleaner({ sql: db.sql, config: config({ completed: '2s', interval: 0.1 }), log: createLogger('silent') });
  const h = await client.trigger(ChainPipeline, 5);
  await h.result({ timeoutMs: 15_000 });
  cleaner.start();
  try {
    await waitFor('the cleaner to delete the pipeline', async () => (await rowsOf(h.id)).pipelines === 0, 20_000);
    assert.deepEqual(await rowsOf(h.id), none);
  } finally {
    await cleaner.stop();
    await engine.stop();
  }
});
