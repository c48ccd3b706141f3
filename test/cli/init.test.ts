import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { testDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

// `ductwork init` in an empty directory, then the scaffolded project compiled with tsc and run
// with `ductwork start`: what a new user does, end to end.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { db, client } = await testDatabase(import.meta.url);
const project = mkdtempSync(join(tmpdir(), 'ductwork-init-'));
chmodSync(project, 0o755);
after(() => rmSync(project, { recursive: true, force: true }));

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: project, env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

test('init turns an npm init -y package (commonjs) into an ES module, and leaves a project with code alone', async () => {
  const { initCommand } = await import('../../src/cli/init.js');
  const fresh = mkdtempSync(join(tmpdir(), 'ductwork-init-cjs-'));
  const existing = mkdtempSync(join(tmpdir(), 'ductwork-init-old-'));
  try {
    writeFileSync(join(fresh, 'package.json'), JSON.stringify({ name: 'x', type: 'commonjs' }));
    assert.deepEqual(initCommand(fresh).updated, ['package.json ("type": "module": the scaffold and the README use ES modules)']);
    assert.equal(JSON.parse(readFileSync(join(fresh, 'package.json'), 'utf8')).type, 'module');
    writeFileSync(join(existing, 'package.json'), JSON.stringify({ name: 'y', type: 'commonjs' }));
    mkdirSync(join(existing, 'src'));
    writeFileSync(join(existing, 'src/pipelines.ts'), '// the user\'s own\n');
    const result = initCommand(existing);
    assert.deepEqual(result.updated, []);
    assert.equal(JSON.parse(readFileSync(join(existing, 'package.json'), 'utf8')).type, 'commonjs');
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(existing, { recursive: true, force: true });
  }
});

test('ductwork init scaffolds a project whose pipeline runs with ductwork start, and never overwrites', async () => {
  const first = await run(process.execPath, [BIN, 'init']);
  assert.equal(first.code, 0, first.output);
  assert.match(first.output, /created config\/ductwork\.yml\ncreated src\/pipelines\.ts\ncreated tsconfig\.json\ncreated package\.json/);
  assert.equal(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).type, 'module', 'an ES module, as the README\'s code needs');
  assert.deepEqual(JSON.parse(readFileSync(join(project, 'tsconfig.json'), 'utf8')).compilerOptions.types, ['node']);
  // What it says to do next works today: nothing to install from a registry that lacks the package.
  assert.doesNotMatch(first.output, /npm i ductwork/);
  assert.match(first.output, /npx ductwork migrate/);
  assert.doesNotMatch(readFileSync(join(project, 'config/ductwork.yml'), 'utf8'), /https?:\/\//, 'the config links to nothing outside this project');
  writeFileSync(join(project, 'src/pipelines.ts'), readFileSync(join(project, 'src/pipelines.ts'), 'utf8') + '\n// edited by the user\n');
  const second = await run(process.execPath, [BIN, 'init']);
  assert.match(second.output, /kept {4}config\/ductwork\.yml \(exists\)/);
  assert.match(readFileSync(join(project, 'src/pipelines.ts'), 'utf8'), /edited by the user/);

  // The project depends on this package, as `npm i ductwork` would provide it.
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(REPO, join(project, 'node_modules', 'ductwork'), 'dir');
  symlinkSync(join(REPO, 'node_modules', '@types'), join(project, 'node_modules', '@types'), 'dir'); // npm i -D @types/node
  const tsc = await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  assert.equal(tsc.code, 0, tsc.output);
  const config = join(project, 'config/ductwork.yml');
  writeFileSync(config, readFileSync(config, 'utf8').replace('schema: ductwork ', `schema: ${db.schema} `));

  const env = { DATABASE_URL: db.url, DUCTWORK_ENV: 'test' };
  const engine = spawn(process.execPath, [BIN, 'start'], { cwd: project, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  engine.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  engine.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => engine.once('exit', resolve));
  try {
    await waitFor('the engine to run', () => /Running \(threaded\)/.test(output), 30_000);
    const triggered = await run(process.execPath, [BIN, 'trigger', 'GreetTeam', '{"team":"core"}'], env);
    assert.equal(triggered.code, 0, triggered.output);
    const result = await client.result(triggered.output.trim(), { timeoutMs: 20_000 });
    assert.deepEqual(result, { count: 3, greetings: ['Hello, Ada!', 'Hello, Grace!', 'Hello, Katherine!'] });
    engine.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  } finally {
    engine.kill('SIGKILL');
  }
});
