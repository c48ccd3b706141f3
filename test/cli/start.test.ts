import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { attemptsOf } from '../helpers/attempts.js';
import { testDatabase } from '../helpers/db.js';
import { FIXTURE_APP } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { ChainPipeline, EnrichAllUsersData, SleepyPipeline, SpinPipeline } from '../fixtures/pipelines.js';

// The real `ductwork` CLI, started as a child process with a YAML configuration file.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { db, client } = await testDatabase(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'ductwork-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const configFile = join(dir, 'ductwork.yml');
writeFileSync(
  configFile,
  `# environment sections with an anchor and a merge key, as in the original's files
default: &default
  app: ${FIXTURE_APP}
  pipelines: [ChainPipeline, SleepyPipeline, EnrichAllUsersData]
  database:
    url: ${db.url}
    schema: ${db.schema}
  job_worker: { polling_timeout: 0.05, threads: 1, shutdown_timeout: 5 }
  pipeline_advancer: { polling_timeout: 0.05, count: 1 }
  supervisor: { polling_timeout: 0.2, shutdown_timeout: 10 }
  logger: { level: info, format: json }
test:
  <<: *default
`,
);

interface Cli {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}
function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, DUCTWORK_ENV: 'test', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const cli = startCli(args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}
const processRows = (role?: string) =>
  role ? db.sql`select id, pid, role from processes where role = ${role}` : db.sql`select id, pid, role from processes`;

describe('ductwork start --threaded', () => {
  test('runs pipelines to completion, answers health, and exits 0 on SIGTERM after the running step finishes', async () => {
    // As the README's small-container recipe runs it: one worker thread, V8's young generation capped.
    const cli = startCli(['start', '--threaded', '-c', configFile], { NODE_OPTIONS: '--max-semi-space-size=2' });
    try {
      await waitFor('the engine to register', async () => (await processRows()).length === 1);
      const health = await run(['health', '-c', configFile]);
      assert.equal(health.code, 0, health.output);
      assert.match(health.output, /^healthy: pid \d+ \(supervisor\)/m);

      assert.equal(await (await client.trigger(ChainPipeline, 3)).result({ timeoutMs: 20_000 }), 14);
      const enriched = (await (await client.trigger(EnrichAllUsersData, { count: 4 })).result({ timeoutMs: 30_000 })) as { count: number };
      assert.equal(enriched.count, 4, "the overview seed's pipeline runs to completion");

      const sleepy = await client.trigger(SleepyPipeline, { ms: 800 });
      const { runId } = await sleepy.status();
      await waitFor('the step to run', async () => (await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`).length > 0);
      cli.child.kill('SIGTERM');
      assert.equal(await cli.exited, 0);
      const [execution] = await attemptsOf(db, runId, 'Sleepy');
      assert.equal(execution!.outcome, 'success', 'the running step finished before the process exited');

      // Logs are JSON lines when stdout is not a terminal, and say which component wrote them.
      const lines = cli.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(lines.some((l) => l.component === 'ductwork' && /engine started/.test(l.message)));
      assert.ok(lines.some((l) => /SIGTERM received/.test(l.message)));

      const after = await run(['health', '-c', configFile]);
      assert.equal(after.code, 1);
      assert.match(after.output, /dead: no Ductwork engine registered/);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });
});

describe('ductwork start --forking', () => {
  test('one child per role; a child killed with SIGKILL is replaced; SIGTERM stops them all', async () => {
    const cli = startCli(['start', '--forking', '-c', configFile]);
    try {
      // An advancer child for both pipelines and a worker child per pipeline, plus the supervisor.
      await waitFor('the supervisor and four children', async () => (await processRows()).length === 5, 30_000);
      assert.deepEqual((await processRows()).map((r) => r.role).sort(), ['advancer', 'supervisor', 'worker', 'worker', 'worker']);
      assert.equal(await (await client.trigger(ChainPipeline, 1)).result({ timeoutMs: 20_000 }), 6);
      const enriched = (await (await client.trigger(EnrichAllUsersData, { count: 4 })).result({ timeoutMs: 30_000 })) as { count: number };
      assert.equal(enriched.count, 4, "the overview seed's pipeline runs to completion");

      const [worker] = await db.sql`select pid from processes where role = 'worker' order by started_at limit 1`;
      process.kill(worker!.pid, 'SIGKILL');
      await waitFor('a replacement worker', async () => {
        const workers = await processRows('worker');
        return workers.length >= 3 && workers.every((w) => w.pid !== worker!.pid) ? workers : undefined;
      }, 30_000);
      assert.equal(await (await client.trigger(ChainPipeline, 2)).result({ timeoutMs: 30_000 }), 10);

      cli.child.kill('SIGTERM');
      assert.equal(await cli.exited, 0);
      await waitFor('every engine to deregister', async () => (await processRows()).every((r) => r.pid === worker!.pid));
      // Nobody is left to reap the SIGKILLed worker's row: clear it for the next tests.
      await db.sql`delete from processes where pid = ${worker!.pid}`;
    } finally {
      cli.child.kill('SIGKILL');
    }
  });
});

test('SIGTTIN prints every loop and thread, with the stack of a step stuck in while (true) {}', { skip: process.platform === 'win32' ? 'no SIGTTIN on Windows (SIGBREAK there)' : false }, async () => {
  const spinFile = join(dir, 'spin.yml');
  writeFileSync(
    spinFile,
    `app: ${FIXTURE_APP}\npipelines: [SpinPipeline]\ndatabase: { url: ${db.url}, schema: ${db.schema} }\n` +
      `job_worker: { polling_timeout: 0.05, threads: 1, shutdown_timeout: 1 }\npipeline_advancer: { polling_timeout: 0.05, count: 1 }\n` +
      `supervisor: { polling_timeout: 0.2 }\nlogger: { format: json }\n`,
  );
  const cli = startCli(['start', '--threaded', '-c', spinFile]);
  try {
    await waitFor('the engine to run', () => /Running \(threaded\)/.test(cli.output()));
    const handle = await client.trigger(SpinPipeline, null);
    const { runId } = await handle.status();
    await waitFor('the spinning step to be claimed', async () => (await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the thread enter the loop
    // A thread dump under heavy load may catch the inspector late; ask again until the stack shows.
    let requested = 0;
    await waitFor('a thread dump with the spinning stack', () => {
      if (/ductwork\.worker_thread[^\n]*\n\s+at spinForever \(/.test(cli.output())) return true;
      const finished = cli.output().split('\n').filter((line) => line.startsWith('ductwork.worker_thread')).length;
      if (finished >= requested) {
        cli.child.kill('SIGTTIN');
        requested++;
      }
      return false;
    }, 30_000);
    const dump = cli.output();
    assert.match(dump, /ductwork\.job_worker: 1 step\(s\) running; 0 result\(s\) waiting to be recorded, 0 commit\(s\) in flight\n  SpinPipeline\.SpinForever \(job \d+, step [0-9a-f-]+, run [0-9a-f-]+\) for \d+ ms/);
    // The advancer may be in one of its polling passes at the moment of the dump.
    assert.match(dump, /ductwork\.pipeline_advancer\.0: (idle \(waiting for finished steps\)|advancing branches for \d+ ms)/);
    assert.match(dump, /at execute \(|at SpinForever\.execute \(|at execute \(file/);

    // The stuck step outlives job_worker.shutdown_timeout: it is abandoned and re-enqueued, and the process exits 0.
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    const executions = await attemptsOf(db, runId);
    assert.deepEqual(executions.map((e) => [e.outcome, e.error_class]), [['crashed', 'AbandonedClaim']]);
    const [queued] = await db.sql`select claimed_at, crash_count from jobs where run_id = ${runId}`;
    assert.deepEqual({ ...queued }, { claimed_at: null, crash_count: 1 }, 're-enqueued');
    await db.sql`delete from jobs where run_id = ${runId}`; // nobody should pick the spinning step up again
  } finally {
    cli.child.kill('SIGKILL');
  }
});

test('--role advancer and --role worker processes together complete pipelines', async () => {
  const advancer = startCli(['start', '--threaded', '-c', configFile, '--role', 'advancer']);
  const worker = startCli(['start', '--threaded', '-c', configFile], { DUCTWORK_ROLE: 'worker' });
  try {
    const ours = async () => (await processRows()).filter((r) => r.pid === advancer.child.pid || r.pid === worker.child.pid);
    await waitFor('both processes to register', async () => (await ours()).length === 2, 30_000);
    assert.deepEqual((await ours()).map((r) => r.role).sort(), ['advancer', 'worker']);
    assert.equal(await (await client.trigger(ChainPipeline, 4)).result({ timeoutMs: 20_000 }), 18);
    advancer.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all([advancer.exited, worker.exited]), [0, 0]);
  } finally {
    advancer.child.kill('SIGKILL');
    worker.child.kill('SIGKILL');
  }
});

test('forking mode escalates to SIGKILL when children outlive supervisor.shutdown_timeout', async () => {
  const slowFile = join(dir, 'slow.yml');
  writeFileSync(
    slowFile,
    `app: ${FIXTURE_APP}\npipelines: [SleepyPipeline]\ndatabase: { url: ${db.url}, schema: ${db.schema} }\n` +
      `job_worker: { polling_timeout: 0.05, threads: 1, shutdown_timeout: 60 }\npipeline_advancer: { polling_timeout: 0.05, count: 1 }\n` +
      `supervisor: { polling_timeout: 0.2, shutdown_timeout: 1 }\nlogger: { format: json }\n`,
  );
  const cli = startCli(['start', '--forking', '-c', slowFile]);
  try {
    await waitFor('the supervisor and two children', async () => (await processRows()).length >= 3, 30_000);
    const handle = await client.trigger(SleepyPipeline, { ms: 30_000 });
    const { runId } = await handle.status();
    await waitFor('the long step to run', async () => (await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`).length > 0);
    const stoppedAt = Date.now();
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0);
    assert.ok(Date.now() - stoppedAt < 15_000, 'the supervisor did not wait for the 30 s step');
    assert.match(cli.output(), /Child still running after supervisor\.shutdown_timeout: SIGKILL/);
    await db.sql`delete from jobs where run_id = ${runId}`;
  } finally {
    cli.child.kill('SIGKILL');
  }
});

describe('bad configuration exits 1 naming the file and the key', () => {
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const cases: [string, () => string[], RegExp][] = [
    ['a missing file', () => ['start', '-c', join(dir, 'nope.yml')], /nope\.yml: configuration file not found/],
    ['invalid YAML', () => ['start', '-c', write('bad.yml', 'role: [unclosed\n')], /bad\.yml: invalid YAML at line \d+/],
    ['an unknown key', () => ['start', '-c', write('typo.yml', 'job_worker:\n  cuont: 3\n')], /typo\.yml: job_worker\.cuont is not a configuration key; did you mean "job_worker\.count"\?/],
    ['a wrong type', () => ['start', '-c', write('type.yml', 'job_worker:\n  max_retry: lots\n')], /type\.yml: job_worker\.max_retry must be an integer >= 0 \(got "lots"\)/],
    ['a bad role flag', () => ['start', '-c', configFile, '--role', 'boss'], /role must be one of all, advancer, worker \(got "boss"\)/],
    ['an unknown pipeline', () => ['start', '-c', configFile, '--pipelines', 'Nope'], /pipelines: "Nope" is not exported by the app module/],
    ['a missing environment section', () => ['start', '-c', write('sections.yml', 'production:\n  role: all\n')], /sections\.yml: no "test" section \(from DUCTWORK_ENV\) and no "default" section/],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const { code, output } = await run(args());
      assert.equal(code, 1, output);
      assert.match(output, message);
    });
  }
});

test('trigger prints the new pipeline id', async () => {
  const { code, output } = await run(['trigger', 'ChainPipeline', '5', '-c', configFile]);
  assert.equal(code, 0, output);
  const id = output.trim();
  const [row] = await db.sql`select klass from pipelines where id = ${id}`;
  assert.equal(row!.klass, 'ChainPipeline');
  const bad = await run(['trigger', 'ChainPipeline', '{nope', '-c', configFile]);
  assert.equal(bad.code, 1);
  assert.match(bad.output, /The input of ChainPipeline is not valid JSON/);
});
