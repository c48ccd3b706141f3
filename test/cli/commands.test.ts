import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { testDatabase } from '../helpers/db.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// The real `ductwork` binary, run as a child process.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { db, client } = await testDatabase(import.meta.url);

function ductwork(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('migrate --dry-run prints the SQL for the schema without touching a database', async () => {
  const { code, stdout } = await ductwork(['migrate', '--dry-run', '--schema', 'shown_here'], { DATABASE_URL: '' });
  assert.equal(code, 0);
  assert.match(stdout, /-- 001_core/);
  assert.match(stdout, /CREATE TABLE "shown_here"\.pipelines/);
});

test('migrate applies pending migrations once and then reports the schema up to date', async () => {
  const schema = `cli_migrate_${process.pid}`;
  try {
    const first = await ductwork(['migrate', '--database-url', db.url, '--schema', schema]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied 001_core/);
    const second = await ductwork(['migrate', '--schema', schema], { DATABASE_URL: db.url });
    assert.match(second.stdout, /is up to date/);
    const partial = `${schema}_to`;
    const upTo = await ductwork(['migrate', '--to', '001_core'], { DATABASE_URL: db.url, DUCTWORK_SCHEMA: partial });
    assert.equal(upTo.code, 0, upTo.stderr);
    assert.match(upTo.stdout, /^applied 001_core\nMigrated .* schema "cli_migrate_\d+_to" \(1 applied\)\.\n$/);
    await db.sql.unsafe(`drop schema if exists "${partial}" cascade`);
  } finally {
    await db.sql.unsafe(`drop schema if exists "${schema}" cascade`);
  }
});

test('status prints a pipeline, and revive refuses one that is not halted, with exit code 1', async () => {
  const handle = await client.trigger(ChainPipeline, 1);
  const status = await ductwork(['status', handle.id, '--json', '--schema', db.schema], { DATABASE_URL: db.url });
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).status, 'in_progress');
  const overview = await ductwork(['status', '--schema', db.schema], { DATABASE_URL: db.url });
  assert.match(overview.stdout, /^pipelines: in_progress \d+/);
  assert.match(overview.stdout, new RegExp(`${handle.id} ChainPipeline in_progress`));
  await db.sql`update pipelines set status = 'completed' where id = ${handle.id}`;
  const revive = await ductwork(['revive', handle.id, '--schema', db.schema], { DATABASE_URL: db.url });
  assert.equal(revive.code, 1);
  assert.match(revive.stderr, /Cannot revive completed pipeline .* \[revive_error\]/);
});

test('unknown commands and missing databases fail with a message and exit code 1', async () => {
  const unknown = await ductwork(['frobnicate']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Unknown command: frobnicate/);
  const typo = await ductwork(['strat']);
  assert.match(typo.stderr, /Unknown command: strat \(did you mean "start"\?\)/);
  const flag = await ductwork(['start', '--pipleines', 'X']);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /Unknown option `--pipleines` \(did you mean "--pipelines"\?\)/);
  const noDb = await ductwork(['migrate'], { DATABASE_URL: '' });
  assert.equal(noDb.code, 1);
  assert.match(noDb.stderr, /No database: pass --database-url, set DATABASE_URL, set database\.url in the configuration file, or add --embedded/);
});
