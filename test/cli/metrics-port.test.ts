import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { testDatabase } from '../helpers/db.js';
import { FIXTURE_APP } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

// `ductwork start --metrics-port`: the real CLI serving Prometheus metrics beside its engine.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { db, client } = await testDatabase(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'ductwork-metrics-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const configFile = join(dir, 'ductwork.yml');
writeFileSync(configFile, `app: ${FIXTURE_APP}
pipelines: [ChainPipeline]
database: { url: ${db.url}, schema: ${db.schema} }
job_worker: { polling_timeout: 0.05, threads: 1 }
pipeline_advancer: { polling_timeout: 0.05, count: 1 }
supervisor: { polling_timeout: 0.2 }
`);

function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

test('ductwork start --metrics-port serves the engine\'s metrics until it stops', async () => {
  const cli = startCli(['start', '--threaded', '-c', configFile, '--metrics-port', '0']);
  try {
    const url = await waitFor('the metrics server', () => /Serving Prometheus metrics on (http:\/\/\S+\/metrics)/.exec(cli.output())?.[1], 30_000);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'loopback by default');
    assert.equal(await (await client.trigger(ChainPipeline, 3)).result({ timeoutMs: 20_000 }), 14);
    const text = await (await fetch(url)).text();
    assert.match(text, /^ductwork_liveness_lock_held 1$/m);
    assert.match(text, /^ductwork_steps_completed_total\{pipeline="ChainPipeline",step="Double"\} 2$/m);
    assert.match(text, /^ductwork_steps_completed_total\{pipeline="ChainPipeline",step="AddOne"\} 1$/m);
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0, cli.output());
    await assert.rejects(fetch(url), 'the metrics server closed with the engine');
  } finally {
    cli.child.kill('SIGKILL');
  }
});

test('--metrics-port is refused in forking mode, and a port that is none is refused', async () => {
  const forking = startCli(['start', '--forking', '-c', configFile, '--metrics-port', '9464']);
  assert.equal(await forking.exited, 1);
  assert.match(forking.output(), /--metrics-port needs the threaded mode.*\[config_invalid\]/);
  const bad = startCli(['start', '--threaded', '-c', configFile, '--metrics-port', 'nine']);
  assert.equal(await bad.exited, 1);
  assert.match(bad.output(), /--metrics-port: "nine" is not a port number/);
});
