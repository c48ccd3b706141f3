/** `npm test`'s runner and the browser test's skip: what a person reads at the end of a run. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { DATABASE_URL } from '../helpers/db.js';

const RUNNER = fileURLToPath(new URL('../run.js', import.meta.url));
const BROWSER_TEST = fileURLToPath(new URL('../dashboard/dashboard-browser.test.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ductwork-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function node(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const clean = { ...process.env, ...env };
  delete clean.NODE_TEST_CONTEXT; // a runner inside a test must report as if run from a terminal
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete clean[key];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: clean, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

function suite(name: string, files: Record<string, string>): string {
  const root = join(dir, name);
  for (const [file, body] of Object.entries(files)) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), `import { test } from 'node:test';\nimport assert from 'node:assert/strict';\n${body}\n`);
  }
  return root;
}

test('one closing line counts every batch, names the failures, and the exit code agrees with it', async () => {
  const root = suite('red', {
    'a/ok.test.js': "test('passes', () => {}); test('is skipped', { skip: 'not here' }, () => {});",
    'b/bad.test.js': "test('fails on purpose', () => assert.equal(1, 2)); test('passes too', () => {});",
    'c/last.serial.test.js': "test('serial passes', () => {});",
  });
  const { code, output } = await node([RUNNER], { DUCTWORK_TEST_ROOT: root, DATABASE_URL });
  assert.equal(code, 1, output);
  const lines = output.trimEnd().split('\n');
  assert.equal(lines.at(-1), 'ductwork: 3 passed, 1 failed, 1 skipped', 'the serial batch ran last, yet the line counts both');
  assert.ok(lines.includes('# failed: parallel: fails on purpose'), output);
});

test('a green run ends with a green line and exit code 0', async () => {
  const root = suite('green', { 'ok.test.js': "test('passes', () => {});", 'x.serial.test.js': "test('passes alone', () => {});" });
  const { code, output } = await node([RUNNER], { DUCTWORK_TEST_ROOT: root, DATABASE_URL });
  assert.equal(code, 0, output);
  assert.equal(output.trimEnd().split('\n').at(-1), 'ductwork: 2 passed, 0 failed, 0 skipped');
});

test('a file that dies outside any test still makes the run red', async () => {
  const root = suite('crash', { 'boom.test.js': "throw new Error('top-level failure');" });
  const { code, output } = await node([RUNNER], { DUCTWORK_TEST_ROOT: root, DATABASE_URL });
  assert.equal(code, 1, output);
  assert.match(output.trimEnd().split('\n').at(-1)!, /^ductwork: 0 passed, [1-9]\d* failed, 0 skipped$/);
});

test('a test that hangs fails, and a batch that hangs is killed, so the run still ends with its line', async () => {
  const stuck = suite('hang', {
    'stuck.test.js': "test('waits for ever', () => new Promise(() => setInterval(() => {}, 1000))); test('passes after it', () => {});",
    'held.test.js': "test('passes but leaves a timer', () => { setInterval(() => {}, 1000); });",
  });
  // Node 20 and 22 give a whole file the test timeout, so these files end at 2 s; Node 24 times out
  // the test but lets its file live on while a timer holds it, and there the batch's watchdog ends it.
  const timedOut = await node([RUNNER], { DUCTWORK_TEST_ROOT: stuck, DATABASE_URL, DUCTWORK_TEST_TIMEOUT_MS: '2000', DUCTWORK_BATCH_TIMEOUT_MS: '20000' });
  assert.equal(timedOut.code, 1, timedOut.output);
  const lines = timedOut.output.trimEnd().split('\n');
  assert.ok(lines.some((line) => /^# failed: parallel: (.*stuck\.test\.js|waits for ever|the batch ran longer than 20000 ms and was killed)$/.test(line)), timedOut.output);
  assert.match(lines.at(-1)!, /^ductwork: [0-2] passed, [1-9] failed, 0 skipped$/);

  // A file that hangs before it declares a test, where no test timeout reaches: the batch's watchdog ends it.
  const held = suite('held', { 'z.serial.test.js': "await new Promise(() => setInterval(() => {}, 1000)); test('never declared', () => {});" });
  const killed = await node([RUNNER], { DUCTWORK_TEST_ROOT: held, DATABASE_URL, DUCTWORK_TEST_TIMEOUT_MS: '60000', DUCTWORK_BATCH_TIMEOUT_MS: '3000' });
  assert.equal(killed.code, 1, killed.output);
  assert.ok(killed.output.includes('# failed: serial: the batch ran longer than 3000 ms and was killed'), killed.output);
  assert.match(killed.output.trimEnd().split('\n').at(-1)!, /^ductwork: 0 passed, [1-9] failed, 0 skipped$/);
});

test('without Chromium the browser tests are skipped with the reason and the install command; under CI they fail', async () => {
  const missing = join(dir, 'no-such-chromium');
  const skipped = await node(['--test', '--test-reporter=tap', BROWSER_TEST], { DUCTWORK_CHROMIUM: missing, CI: undefined });
  assert.equal(skipped.code, 0, skipped.output);
  assert.match(skipped.output, new RegExp(`# SKIP no Chromium at ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; install it with \`apt-get install chromium\``));
  assert.match(skipped.output, /^# skipped 1$/m);
  const failed = await node(['--test', '--test-reporter=tap', BROWSER_TEST], { DUCTWORK_CHROMIUM: missing, CI: 'true' });
  assert.equal(failed.code, 1, failed.output);
  assert.match(failed.output, /The dashboard browser tests need Chromium in CI: no Chromium at/);
});
