import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import { attemptsOf } from '../helpers/attempts.js';
import { freshSchema, type TestSchema } from '../helpers/db.js';
import { spawnEngine, type EngineProcess } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { ExpandPipeline, SleepyPipeline } from '../fixtures/pipelines.js';

// Runs alone (a .serial test): restarting the server would disturb other test files. The engine
// runs in a child process, as in production: the test process only triggers and watches.
let db: TestSchema;
let engine: EngineProcess;
let client: DuctworkClient;

/** Why this machine cannot restart the test database, or undefined when it can. */
function cannotRestart(): string | undefined {
  if (process.env.DUCTWORK_TEST_EMBEDDED) return 'the tests run on an embedded PostgreSQL, not a cluster pg_ctlcluster can restart';
  const host = new URL(process.env.DATABASE_URL ?? 'postgres://127.0.0.1').hostname;
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) return `the test database (${host}) is not a local server this test can restart`;
  if (!existsSync('/etc/postgresql')) return 'no local PostgreSQL cluster (/etc/postgresql) to restart';
  try {
    execFileSync('sh', ['-c', 'command -v pg_ctlcluster'], { stdio: 'ignore' });
  } catch {
    return 'pg_ctlcluster is not available';
  }
  if (process.getuid?.() !== 0) return 'restarting the cluster needs root';
  return undefined;
}
const restartSkip = cannotRestart();
if (restartSkip) process.stdout.write(`# database restart test skipped: ${restartSkip}\n`);

before(async () => {
  db = await freshSchema(import.meta.url);
  engine = await spawnEngine(db, { pipelines: ['SleepyPipeline', 'ExpandPipeline'], job_worker: { count: 4 }, database: { call_timeout: 10 } });
  client = new DuctworkClient({ sql: db.sql, schema: db.schema });
});
after(async () => {
  await engine?.stop();
  await db?.drop();
});

async function assertEachStepSucceededOnce(runIds: string[]) {
  const steps = await db.sql`select id from step_view where run_id in ${db.sql(runIds)}`;
  const successes = (await attemptsOf(db, runIds)).filter((a) => a.outcome === 'success');
  assert.ok(steps.length > 0);
  for (const step of steps) assert.equal(successes.filter((a) => a.step_id === step.id).length, 1);
}

test('PostgreSQL restarted mid-run: every pipeline still completes', { skip: restartSkip }, async () => {
  const handles = await Promise.all(Array.from({ length: 24 }, (_, i) => client.trigger(SleepyPipeline, { ms: 150 + (i % 4) * 50 })));
  const runIds = await Promise.all(handles.map(async (h) => (await h.status()).runId));
  await waitFor('some steps to finish before the restart', async () => {
    const [row] = await db.sql`select count(*)::int as n from step_view where run_id in ${db.sql(runIds)} and status = 'completed'`;
    return row!.n >= 3;
  });
  const version = readdirSync('/etc/postgresql')[0]!;
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { stdio: 'inherit' });
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
