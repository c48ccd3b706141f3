import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

// What the README promises a new user with no PostgreSQL: in a clean copy of this project,
// `npm ci && npx ductwork demo` installs, builds, and runs the demo on an embedded database.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const copy = mkdtempSync(join(tmpdir(), 'ductwork-fresh-'));
chmodSync(copy, 0o755);
after(() => rmSync(copy, { recursive: true, force: true }));

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(command, args, { cwd: copy, env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

test('npm ci && npx ductwork demo in a clean copy, with no database configured', async () => {
  const skip = new Set(['node_modules', 'dist', '.git', '.ductwork']);
  cpSync(root, copy, { recursive: true, filter: (source) => !skip.has(basename(source)) });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const install = await run(npm, ['ci', '--no-audit', '--no-fund', '--prefer-offline']);
  assert.equal(install.code, 0, install.output);
  // npm 11 warns about dependencies' install scripts nobody approved; package.json's allowScripts approves the one we need.
  assert.doesNotMatch(install.output, /not yet covered by allowScripts/);
  const demo = await run(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['ductwork', 'demo', '--items', '25']);
  assert.equal(demo.code, 0, demo.output);
  assert.match(demo.output, /starting an embedded PostgreSQL for development/);
  assert.match(demo.output, /Completed in [\d.]+s: 25 items/);

  // A rebuild keeps the bin executable, so npx ductwork still runs.
  const build = await run(npm, ['run', 'build']);
  assert.equal(build.code, 0, build.output);
  const version = await run(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['ductwork', '--version']);
  assert.equal(version.code, 0, version.output);
  assert.match(version.output, /^ductwork\/\d+\.\d+\.\d+/);
});
