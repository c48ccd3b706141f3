import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// `ductwork demo` with no DATABASE_URL: a real embedded PostgreSQL from the npm registry, in a
// fresh working directory, as a new user without a database server would run it.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'ductwork-demo-'));
chmodSync(cwd, 0o755); // a project directory, readable by the postgres user the server runs as under root
after(() => rmSync(cwd, { recursive: true, force: true }));

test('ductwork demo runs the example pipeline on an embedded PostgreSQL and exits 0', async () => {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'demo', '--items', '40'], { cwd, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /starting an embedded PostgreSQL for development \(data in \.ductwork\/pg\)/);
  assert.match(output, /steps 242\/242 · collapse 1 · combine 40 · converge 40 · divert 40 · divide 80 · expand 40 · start 1/);
  assert.match(output, /Completed in [\d.]+s: 40 items, \d+ published, \d+ backordered\./);
  assert.doesNotMatch(output, /· ·/, 'no empty field in the progress line');
  // It ends by pointing at commands that work after it exited: --embedded starts the database again.
  const id = /Inspect it: +npx ductwork status ([0-9a-f-]{36}) --schema ductwork_demo --embedded/.exec(output)?.[1];
  assert.ok(id, output);
  assert.match(output, /Browse it: +npx ductwork dashboard --schema ductwork_demo --embedded/);
  const status = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'status', id, '--schema', 'ductwork_demo', '--embedded'], { cwd, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(status.code, 0, status.output);
  assert.match(status.output, new RegExp(`CatalogRefresh ${id}: completed`));
});

test('ductwork start --embedded runs pipelines on an embedded PostgreSQL when no database is configured', async () => {
  const config = join(cwd, 'embedded.yml');
  writeFileSync(config, `app: ${new URL('../fixtures/pipelines.js', import.meta.url).href}\npipelines: [ChainPipeline]\njob_worker: { polling_timeout: 0.05 }\nlogger: { format: json }\n`);
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const engine = spawn(process.execPath, [BIN, 'start', '--embedded', '-c', config], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  engine.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  engine.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => engine.once('exit', resolve));
  try {
    await waitFor('the engine to run', () => /Running \(threaded\)/.test(output), 60_000);
    // The development database's URL is printed whole, password and all: it can be pasted as is.
    const url = /Using the embedded development PostgreSQL (postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres)/.exec(output)?.[1];
    assert.ok(url, output);
    const client = new DuctworkClient({ databaseUrl: url });
    try {
      assert.equal(await (await client.trigger(ChainPipeline, 2)).result({ timeoutMs: 20_000 }), 10);
    } finally {
      await client.close();
    }
    engine.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  } finally {
    engine.kill('SIGKILL');
  }
});
