/** Common mistakes end with a typed error that says what to do, never a stack trace (issue 14, item 10-12, 16). */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { createDashboard } from '../../src/dashboard/handler.js';
import { DuctworkClient } from '../../src/client/client.js';
import { DATABASE_URL, testDatabase } from '../helpers/db.js';
import { FIXTURE_APP, startTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { db, client } = await testDatabase(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'ductwork-mistakes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const unmigrated = `t_never_migrated_${process.pid}`;

function ductwork(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, DATABASE_URL, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Exit 1, the message, the error code in brackets, and no stack frame. */
function refused(result: { code: number; stderr: string }, message: RegExp): void {
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, message);
  assert.match(result.stderr, /\[[a-z_]+\]\n$/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('status, trigger, revive, health and dashboard before migrate name the command to run', async () => {
  const notMigrated = new RegExp(`Database schema "${unmigrated}" is not migrated \\(missing: 001_core.*\\)\\. Run \`npx ductwork migrate\` with --schema ${unmigrated} `);
  const id = '00000000-0000-7000-8000-000000000000';
  refused(await ductwork(['status', '--schema', unmigrated]), notMigrated);
  refused(await ductwork(['status', id, '--schema', unmigrated]), notMigrated);
  refused(await ductwork(['revive', id, '--schema', unmigrated]), notMigrated);
  refused(await ductwork(['health', '--schema', unmigrated]), notMigrated);
  refused(await ductwork(['dashboard', '--port', '0', '--schema', unmigrated]), notMigrated);
  const config = join(dir, 'app.yml');
  writeFileSync(config, `app: ${FIXTURE_APP}\n`);
  refused(await ductwork(['trigger', 'ChainPipeline', '1', '-c', config, '--schema', unmigrated]), notMigrated);
});

test('a dashboard mounted before migrate answers with a page that says so, not a 500', async () => {
  const dashboard = createDashboard({ databaseUrl: DATABASE_URL, schema: unmigrated });
  const server = createServer((req, res) => void dashboard(req, res)).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 503);
    assert.match(await response.text(), /The Ductwork schema is not migrated: run `npx ductwork migrate` \(with the same --schema\), then reload\./);
  } finally {
    server.close();
    await dashboard.close();
  }
});

test('a URL that is not one, or a postgress:// typo, is refused naming where it came from', async () => {
  refused(await ductwork(['status'], { DATABASE_URL: 'not a url' }), /^ductwork: DATABASE_URL: "not a url" is not a URL; expected postgres:\/\/user:password@host:5432\/database\. \[config_invalid\]/);
  refused(await ductwork(['migrate', '--database-url', 'postgress://localhost/app']), /--database-url: the URL scheme "postgress:\/\/" is not a PostgreSQL one \(did you mean "postgres:\/\/"\?\)/);
  const file = join(dir, 'typo.yml');
  writeFileSync(file, 'database:\n  url: postgresql:/oops\n');
  refused(await ductwork(['health', '-c', file], { DATABASE_URL: '' }), /typo\.yml: database\.url: "postgresql:\/oops" is not a URL of the form postgres:\/\/user:password@host:5432\/database\. \[config_invalid\]/);
  assert.throws(() => new DuctworkClient({ database: { url: 'postgress://x/y' } }), /DuctworkClient database\.url: the URL scheme "postgress:\/\/"/);
});

test('a bad role names its source: the variable, the flag, or the file', async () => {
  refused(await ductwork(['start'], { DUCTWORK_ROLE: 'advancr' }), /^ductwork: DUCTWORK_ROLE: role must be one of all, advancer, worker \(got "advancr"\)\. \[config_invalid\]/);
  refused(await ductwork(['start', '--role', 'boss']), /^ductwork: --role: role must be one of/);
  const file = join(dir, 'role.yml');
  writeFileSync(file, 'role: advancr\n');
  refused(await ductwork(['start', '-c', file]), new RegExp(`^ductwork: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: role must be one of`));
});

test('a misspelt pipeline or step in a per-step setting stops the engine at start, with the nearest name', async () => {
  const file = join(dir, 'retry.yml');
  writeFileSync(file, `app: ${FIXTURE_APP}\ndatabase: { schema: ${db.schema} }\njob_worker:\n  max_retry: { ChainPipelin: { AddOne: 8 } }\n`);
  refused(await ductwork(['start', '-c', file]), /job_worker\.max_retry\.ChainPipelin: "ChainPipelin" is not a pipeline of the app module \(pipelines: .*\); did you mean "job_worker\.max_retry\.ChainPipeline"\? \[unknown_pipeline\]/);
  writeFileSync(file, `app: ${FIXTURE_APP}\ndatabase: { schema: ${db.schema} }\njob_worker:\n  max_retry: { ChainPipeline: { AddOen: 8 } }\n`);
  refused(await ductwork(['start', '-c', file]), /"AddOen" is not a step of ChainPipeline \(steps: Double, AddOne\); did you mean "job_worker\.max_retry\.ChainPipeline\.AddOne"\?/);
});

test('trigger without an input is refused, with an example', async () => {
  const file = join(dir, 'trigger.yml');
  writeFileSync(file, `app: ${FIXTURE_APP}\ndatabase: { schema: ${db.schema} }\n`);
  refused(await ductwork(['trigger', 'ChainPipeline', '-c', file]), /trigger ChainPipeline: no input\. Pass the pipeline's input as JSON after its name, e\.g\. `ductwork trigger ChainPipeline '\{"team":"core"\}'` \(`null` for none\)\. \[trigger_input_not_json\]/);
});

test('ductwork status | head ends quietly when head closes the pipe', async () => {
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.trigger(ChainPipeline, i)));
  const result = await new Promise<{ code: number; stderr: string; stdout: string }>((resolve) => {
    execFile('sh', ['-c', `"${process.execPath}" "${BIN}" status --json --schema ${db.schema} | head -c 20`], { cwd: dir, env: { ...process.env, DATABASE_URL } }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stdout, stderr }),
    );
  });
  assert.equal(result.stdout.length, 20);
  assert.equal(result.stderr, '', 'no EPIPE stack');
});

test('a halt says what the step threw, and which fan-out element it had', async () => {
  const engine = await startTestEngine(db, { app: new URL('../fixtures/ops-pipelines.js', import.meta.url).href, job_worker: { max_retry: 0 } });
  try {
    const { FailOnThree } = await import('../fixtures/ops-pipelines.js');
    const report = await (await engine.client.trigger(FailOnThree, [1, 2, 3, 4])).wait({ timeoutMs: 30_000 });
    assert.equal(report.status, 'halted');
    assert.deepEqual(report.halts.map((h) => h.detail), ['step Picky (Picky.1, fan-out element 2) failed: job retries exhausted: Error: boom on 3']);
  } finally {
    await engine.stop();
  }
});

test('ductwork dev runs the engine and the dashboard on the embedded database and prints both URLs', async () => {
  const config = join(dir, 'dev.yml');
  writeFileSync(config, `app: ${FIXTURE_APP}\npipelines: [ChainPipeline]\njob_worker: { polling_timeout: 0.05 }\n`);
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const dev = spawn(process.execPath, [BIN, 'dev', '-c', config, '--port', '0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  dev.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  dev.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
  try {
    const dashboard = await waitFor('the dashboard URL', () => /Dashboard: +(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], 90_000);
    assert.match(out, /running ChainPipeline on schema "ductwork" of postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres \(embedded/);
    assert.match(out, /Trigger: +npx ductwork trigger ChainPipeline '<input JSON>' --embedded/);
    // What it prints works from another terminal: trigger and status join the running database.
    const triggered = await ductwork(['trigger', 'ChainPipeline', '2', '-c', config, '--embedded'], { DATABASE_URL: '' });
    assert.equal(triggered.code, 0, triggered.stderr);
    const id = triggered.stdout.trim();
    await waitFor('the run to complete', async () => /: completed/.test((await ductwork(['status', id, '--embedded'], { DATABASE_URL: '' })).stdout), 30_000);
    const page = await (await fetch(`${dashboard}pipelines/${id}`)).text();
    assert.match(page, /ChainPipeline/);
    dev.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    dev.kill('SIGKILL');
    // As root the data is kept where the postgres user can reach it, outside this test's folder.
    const moved = /keeping the embedded database in (\S+) instead/.exec(out)?.[1];
    if (moved) rmSync(moved, { recursive: true, force: true });
  }
});
