/** `ductwork dashboard` as a real child process: serves until SIGTERM, refuses an unprotected public bind. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { testDatabase } from '../helpers/db.js';

const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { db } = await testDatabase(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'ductwork-dashboard-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the command; resolves with its URL once it prints one, or with its exit if it ends first. */
function dashboard(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, 'dashboard', ...args], { env: { ...process.env, DATABASE_URL: db.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  const ready = new Promise<{ url?: string; code?: number; out: string }>((resolve) => {
    const collect = (chunk: Buffer) => {
      out += chunk.toString();
      const url = /Ductwork dashboard on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ url, out });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    void exited.then((code) => resolve({ code, out }));
  });
  return { child, ready, exited };
}

test('serves the dashboard on loopback by default until SIGTERM', async () => {
  const run = dashboard(['--port', '0', '--schema', db.schema]);
  const { url, out } = await run.ready;
  assert.ok(url, out);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(out, new RegExp(`schema "${db.schema}", loopback only`));
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<h1>Overview<\/h1>/);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});

test('refuses a non-loopback host without credentials, with exit code 1 and what to do', async () => {
  const { url, code, out } = await dashboard(['--host', '0.0.0.0', '--port', '0', '--schema', db.schema]).ready;
  assert.equal(url, undefined);
  assert.equal(code, 1);
  assert.match(out, /Refusing to serve the Ductwork dashboard on 0\.0\.0\.0: that is not a loopback address and no authentication is configured\. Set dashboard\.username and dashboard\.password .*\[dashboard_auth_required\]/);
});

test('takes basic-auth credentials from the configuration file and DUCTWORK_DASHBOARD_PASSWORD', async () => {
  const config = join(dir, 'ductwork.yml');
  writeFileSync(config, `database:\n  schema: ${db.schema}\ndashboard:\n  username: ops\n`);
  const half = await dashboard(['-c', config, '--port', '0']).ready;
  assert.equal(half.code, 1);
  assert.match(half.out, /dashboard\.username and dashboard\.password go together/);

  const run = dashboard(['-c', config, '--host', '0.0.0.0', '--port', '0'], { DUCTWORK_DASHBOARD_PASSWORD: 'pw' });
  const { url, out } = await run.ready;
  assert.ok(url, out);
  assert.match(out, /basic auth as ops/);
  const local = url.replace(/\/\/[^/]+:/, '//127.0.0.1:');
  assert.equal((await fetch(local)).status, 401);
  assert.equal((await fetch(local, { headers: { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` } })).status, 200);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});

test('a port that is not a number is refused', async () => {
  const { code, out } = await dashboard(['--port', 'eighty', '--schema', db.schema]).ready;
  assert.equal(code, 1);
  assert.match(out, /--port: "eighty" is not a port number \(0 to 65535\)\. \[config_invalid\]/);
});
