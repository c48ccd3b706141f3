import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import { connect } from '../../src/db/connect.js';
import { discardEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { attemptsOf } from '../helpers/attempts.js';
import type { TestSchema } from '../helpers/db.js';
import { spawnEngine, type EngineProcess } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { ExpandPipeline, SleepyPipeline } from '../fixtures/pipelines.js';

// An outage needs a server to break, and the only one this test may break is its own: it starts
// an embedded PostgreSQL, restarts that, and never touches the machine's server (which other
// test files, and other people, are using). The engine runs in a child process, as in
// production: the test process only triggers and watches.
let server: EmbeddedDatabase;
let scratch: string;
let db: TestSchema;
let engine: EngineProcess;
let client: DuctworkClient;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ductwork-outage-'));
  server = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), join: false });
  const schema = 'outage';
  const sql = connect({ url: server.url, schema, max: 6, applicationName: 'ductwork-test' });
  await migrate(sql, schema);
  db = { schema, url: server.url, sql, drop: async () => sql.end({ timeout: 5 }) };
  engine = await spawnEngine(db, { pipelines: ['SleepyPipeline', 'ExpandPipeline'], job_worker: { count: 4 }, database: { call_timeout: 10 } });
  client = new DuctworkClient({ sql: db.sql, schema: db.schema });
});
after(async () => {
  await engine?.stop();
  await db?.drop();
  if (server) await discardEmbeddedPostgres(server);
  rmSync(scratch, { recursive: true, force: true });
});

async function assertEachStepSucceededOnce(runIds: string[]) {
  const steps = await db.sql`select id from step_view where run_id in ${db.sql(runIds)}`;
  const successes = (await attemptsOf(db, runIds)).filter((a) => a.outcome === 'success');
  assert.ok(steps.length > 0);
  for (const step of steps) assert.equal(successes.filter((a) => a.step_id === step.id).length, 1);
}

test('PostgreSQL restarted mid-run: every pipeline still completes', async () => {
  const handles = await Promise.all(Array.from({ length: 24 }, (_, i) => client.trigger(SleepyPipeline, { ms: 150 + (i % 4) * 50 })));
  const runIds = await Promise.all(handles.map(async (h) => (await h.status()).runId));
  await waitFor('some steps to finish before the restart', async () => {
    const [row] = await db.sql`select count(*)::int as n from step_view where run_id in ${db.sql(runIds)} and status = 'completed'`;
    return row!.n >= 3;
  });
  const [before] = await db.sql`select pg_postmaster_start_time() as t`;
  await server.restart();
  const after = await waitFor('the restarted server to answer', async () => (await db.sql`select pg_postmaster_start_time() as t`.catch(() => []))[0]);
  assert.ok(after.t > before!.t, 'the server really restarted');
  const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 60_000 })));
  assert.equal(results.length, 24);
  await assertEachStepSucceededOnce(runIds);
});

test('backend connections terminated mid-run: every pipeline still completes', async () => {
  const handles = await Promise.all(Array.from({ length: 10 }, () => client.trigger(ExpandPipeline, 8)));
  const sleepers = await Promise.all(Array.from({ length: 8 }, () => client.trigger(SleepyPipeline, { ms: 200 })));
  const all = [...handles, ...sleepers];
  const runIds = await Promise.all(all.map(async (h) => (await h.status()).runId));
  let terminated = 0;
  for (let round = 0; round < 3; round++) {
    const rows = await db.sql`
      select pg_terminate_backend(pid) as done from pg_stat_activity
      where application_name like ${'ductwork-% ' + engine.processId}`;
    terminated += rows.filter((r) => r.done).length;
    await waitFor('the engine to reconnect and make progress', async () => {
      const [row] = await db.sql`select count(*)::int as n from pg_stat_activity where application_name like ${'ductwork-% ' + engine.processId}`;
      return row!.n > 0;
    });
  }
  assert.ok(terminated >= 3, `terminated ${terminated} engine connections`);
  for (const h of handles) assert.equal(await h.result({ timeoutMs: 60_000 }), 64);
  for (const h of sleepers) assert.deepEqual(await h.result({ timeoutMs: 60_000 }), { done: { ms: 200 } });
  await assertEachStepSucceededOnce(runIds);
});
