/** The time-and-control commands, run as the real `ductwork` binary: trigger --key/--delay, signal, cancel, schedules, check. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';

const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TIME_APP = new URL('../fixtures/time-pipelines.js', import.meta.url).href;
const NEXT_APP = new URL('../fixtures/time-pipelines-next.js', import.meta.url).href;
const { db, client } = await testEngine(import.meta.url, { app: TIME_APP });
const dir = mkdtempSync(join(tmpdir(), 'ductwork-time-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'ductwork.yml');
writeFileSync(config, `app: ${TIME_APP}\ndatabase: { schema: ${db.schema} }\n`);
const nextConfig = join(dir, 'next.yml');
writeFileSync(nextConfig, `app: ${NEXT_APP}\ndatabase: { schema: ${db.schema} }\n`);

function ductwork(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('trigger --key prints the same id twice; signal --pipeline delivers by that key; status shows the wait', async () => {
  const first = await ductwork(['trigger', 'ApprovalPipeline', '{"order":"c-1"}', '--key', 'order-c-1', '-c', config]);
  assert.equal(first.code, 0, first.stderr);
  const again = await ductwork(['trigger', 'ApprovalPipeline', '{"order":"c-1"}', '--key', 'order-c-1', '-c', config]);
  assert.equal(again.stdout, first.stdout);
  const id = first.stdout.trim();
  await waitFor('the wait', async () => (await client.status(id)).waiting.length > 0);
  const status = await ductwork(['status', id, '-c', config]);
  assert.match(status.stdout, /waiting for "approved" after Submit \(no timeout\)/);
  const signal = await ductwork(['signal', 'order-c-1', 'approved', '{"approvedBy":"cli"}', '--pipeline', 'ApprovalPipeline', '-c', config]);
  assert.equal(signal.code, 0, signal.stderr);
  assert.match(signal.stdout, new RegExp(`^delivered: "approved" to ${id}`));
  assert.deepEqual(await client.result(id, { timeoutMs: 15_000 }), { done: true, approvedBy: 'cli', escalated: null });
  const late = await ductwork(['signal', id, 'approved', '{}', '-c', config]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /is completed; only a pipeline in progress takes signals/);
});

test('cancel ends a waiting pipeline cancelled with its reason', async () => {
  const handle = await client.trigger((await import('../fixtures/time-pipelines.js')).ApprovalPipeline, { order: 'c-2' });
  await waitFor('the wait', async () => (await handle.status()).waiting.length > 0);
  const cancelled = await ductwork(['cancel', handle.id, '--reason', 'customer left', '-c', config]);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /^Cancelled .* \(ApprovalPipeline\)\./);
  const status = await ductwork(['status', handle.id, '-c', config]);
  assert.match(status.stdout, /: cancelled\n[\s\S]*cancelled: customer left/);
});

test('check passes for the running build and names what the next build would strand, with exit code 1', async () => {
  const { HourDelayPipeline, ApprovalPipeline } = await import('../fixtures/time-pipelines.js');
  const delayed = await client.trigger(HourDelayPipeline, { n: 1 });
  const waiting = await client.trigger(ApprovalPipeline, { order: 'c-3' });
  await waitFor('both to wait', async () => (await delayed.status()).waiting.length > 0 && (await waiting.status()).waiting.length > 0);
  const status = await ductwork(['status', delayed.id, '-c', config]);
  assert.match(status.stdout, /waiting until \S+ \(delay: Stamp\)/);
  const ok = await ductwork(['check', '-c', config]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^OK: this build/);
  const next = await ductwork(['check', '-c', nextConfig]);
  assert.equal(next.code, 1);
  assert.match(next.stdout, /HourDelayPipeline: 1 run\(s\) in flight \(0 waiting, 1 delayed\) but this build has no such pipeline/);
  assert.match(next.stdout, /ApprovalPipeline \(definition [0-9a-f]{12}\): 1 run\(s\) in flight \(1 waiting, 0 delayed\) need steps this build lacks: Finish/);
  await client.cancel(waiting.id);
  await client.cancel(delayed.id);
});

test('schedules lists none when no pipeline declares one', async () => {
  const listed = await ductwork(['schedules', '-c', config]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^No schedules/);
});
