import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { workerThreadStacks } from '../../src/runtime/thread-dump.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ductwork-thread-dump-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a thread dump names the file of a busy thread\'s frames and reports an idle thread as idle, not as unanswered', async () => {
  const spinFile = join(dir, 'spin.mjs');
  writeFileSync(spinFile, "import { parentPort } from 'node:worker_threads';\nfunction spinForever() {\n  parentPort.postMessage('spinning');\n  for (;;) {}\n}\nspinForever();\n");
  const idleFile = join(dir, 'idle.mjs');
  writeFileSync(idleFile, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => {});\nsetTimeout(() => parentPort.postMessage('idle'), 1);\n");
  const spinning = new Worker(pathToFileURL(spinFile), { name: 'spinner' });
  const idle = new Worker(pathToFileURL(idleFile), { name: 'idler' });
  try {
    await Promise.all([spinning, idle].map((w) => new Promise((resolve) => w.once('message', resolve))));
    // The idle thread may still be leaving its last callback at the instant of a dump (its stack
    // is then shown, rightly): dump again until it is caught waiting.
    const stacks = await waitFor('a dump that catches the idle thread idle', async () => {
      const dump = await workerThreadStacks();
      return dump.find((s) => /idler/.test(s.title))?.frames[0]?.startsWith('(idle') ? dump : undefined;
    });
    const spin = stacks.find((s) => /spinner/.test(s.title));
    const rest = stacks.find((s) => /idler/.test(s.title));
    assert.ok(spin && rest, `both threads dumped: ${JSON.stringify(stacks)}`);
    assert.match(spin.frames[0]!, new RegExp(`^at spinForever \\(${pathToFileURL(spinFile).href.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+\\)$`));
    assert.ok(!spin.frames.some((f) => /\(native:/.test(f)), `no frame without its file: ${spin.frames.join(' | ')}`);
    assert.deepEqual(rest.frames, ['(idle: no JavaScript running)']);
  } finally {
    await Promise.all([spinning.terminate(), idle.terminate()]);
  }
});
