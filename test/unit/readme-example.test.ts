import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { DATABASE_URL } from '../helpers/db.js';

// Runs the README's testing example as written, with only the package imports pointed at this
// checkout's build, so the example cannot rot.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ductwork-readme-'));
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe('drop schema if exists ductwork_test cascade');
  await admin.end();
});

test('the README testing example passes', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /<!-- executed by test\/unit\/readme-example\.test\.ts -->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has the marked example');
  const source = block
    .replace("'ductwork/testing'", `'${pathToFileURL(join(root, 'dist/src/testing/index.js')).href}'`)
    .replace("'./dist/examples/etl.js'", `'${pathToFileURL(join(root, 'dist/examples/etl.js')).href}'`);
  const file = join(dir, 'readme-example.test.mjs');
  writeFileSync(file, source);
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL };
  delete env.NODE_TEST_CONTEXT; // a file of its own, not a subtest of this runner
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [file], { cwd: root, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  // Node 20 and 22 print TAP when not on a terminal, Node 24 its spec reporter ('ℹ pass 2').
  assert.match(output, /^(# |ℹ )pass 2$/m);
});
