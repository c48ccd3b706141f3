/**
 * Runs every compiled test file (dist/test/**\/*.test.js) with node's test runner. A script
 * rather than a shell glob so that `npm test` works the same in sh, bash and cmd.exe, and on
 * Node 20 whose runner does not expand globs itself.
 *
 * Each batch reports to the terminal as usual and, in TAP, to a file this script reads, so the
 * run ends with one line that counts every batch (`ductwork: N passed, N failed, N skipped`), the
 * names of the failed tests, and an exit code that agrees with that line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

// DUCTWORK_TEST_ROOT runs another folder's tests: the runner's own test uses it.
const root = process.env.DUCTWORK_TEST_ROOT || fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);

function collect(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return collect(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = collect(root)
  .filter((file) => only.length === 0 || only.some((part) => relative(root, file).includes(part)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`No test files matched ${only.join(' ')}\n`);
  process.exit(1);
}
// `*.serial.test.js` files are heavy (they run and restart servers of their own), so they run
// alone, after everything else.
const serial = files.filter((file) => file.endsWith('.serial.test.js'));
const parallel = files.filter((file) => !serial.includes(file));

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
  notes: string[];
}
const totals: Totals = { passed: 0, failed: 0, skipped: 0, failures: [], notes: [] };
const reports = mkdtempSync(join(tmpdir(), 'ductwork-test-report-'));

// No test may hang the run: a test that takes longer than TEST_TIMEOUT_MS fails (on Node 20 and 22
// its whole file is killed at that age, which also catches a file whose handles outlive its tests;
// the slowest file, the schedule test's hundred one-second ticks, takes about two minutes), and a
// batch that outlives BATCH_TIMEOUT_MS is killed and counted as failed (on Node 24 that is what ends
// a file held open after a timed-out test), so the run always ends with its summary line. (Not
// --test-force-exit: it exits before the TAP file this script counts is flushed.)
const TEST_TIMEOUT_MS = Number(process.env.DUCTWORK_TEST_TIMEOUT_MS) || 20 * 60_000;
const BATCH_TIMEOUT_MS = Number(process.env.DUCTWORK_BATCH_TIMEOUT_MS) || 40 * 60_000;

function run(name: string, batch: string[], concurrency: number): Promise<void> {
  if (batch.length === 0) return Promise.resolve();
  const tap = join(reports, `${name}.tap`);
  const terminal = process.stdout.isTTY ? 'spec' : 'tap';
  const args = [
    '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${TEST_TIMEOUT_MS}`,
    `--test-reporter=${terminal}`, '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...batch,
  ];
  // Its own process group (not on Windows, which has none), so a watchdog kill takes the test files' processes too.
  const group = process.platform !== 'win32';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', detached: group });
    const watchdog = setTimeout(() => {
      totals.failed += 1;
      totals.failures.push(`${name}: the batch ran longer than ${BATCH_TIMEOUT_MS} ms and was killed`);
      try {
        if (group) process.kill(-child.pid!, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, BATCH_TIMEOUT_MS);
    // Ctrl-C or a CI cancel reaches this process only: pass it on to the batch's group.
    const forward = (signal: NodeJS.Signals) => () => {
      try {
        if (group) process.kill(-child.pid!, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
      process.exit(130);
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      count(name, tap, code ?? (signal ? 1 : 0));
      resolve();
    });
  });
}

/** Adds one batch's TAP summary to the totals; a batch that failed without a failed test still counts as one. */
function count(name: string, tap: string, code: number): void {
  let text = '';
  try {
    text = readFileSync(tap, 'utf8');
  } catch {
    // no report at all: the runner itself died
  }
  const summary = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const failed = summary('fail') + summary('cancelled');
  totals.passed += summary('pass');
  totals.skipped += summary('skipped') + summary('todo');
  totals.failed += failed;
  // Top-level failures are the ones worth naming: the test (or the file) that failed.
  for (const match of text.matchAll(/^( *)not ok \d+ - (.*)$/gm)) {
    if (match[1]!.length <= 4) totals.failures.push(`${name}: ${match[2]}`);
  }
  if (code !== 0 && failed === 0) {
    totals.failed += 1;
    totals.notes.push(`the ${name} batch exited ${code} without reporting a failed test`);
  }
}

// The database: DATABASE_URL, else the local server when it answers, else an embedded PostgreSQL
// from the npm registry, so `npm test` passes on a machine with no database installed.
let embedded: { stop(): Promise<void> } | undefined;
if (!process.env.DATABASE_URL && !(await answers('127.0.0.1', 5432))) {
  const { startEmbeddedPostgres, discardEmbeddedPostgres } = await import('../src/db/embedded.js');
  const database = await startEmbeddedPostgres({ dataDir: join(tmpdir(), `ductwork-test-pg-${process.pid}`), join: false });
  process.env.DATABASE_URL = database.url;
  process.env.DUCTWORK_TEST_EMBEDDED = '1';
  embedded = { stop: () => discardEmbeddedPostgres(database) };
  process.stdout.write(`# no PostgreSQL at 127.0.0.1:5432 and no DATABASE_URL: testing on an embedded one (${database.url})\n`);
}
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// The suite must never restart a server it did not start: compare the server's start time before and after.
const startedAt = embedded ? undefined : await postmasterStart(databaseUrl);

await run('parallel', parallel, Math.max(2, availableParallelism()));
await run('serial', serial, 1);
await embedded?.stop();
rmSync(reports, { recursive: true, force: true });

if (startedAt !== undefined) {
  const after = await postmasterStart(databaseUrl);
  if (after !== undefined && after !== startedAt) {
    const what = `the test database server was restarted during the run (pg_postmaster_start_time ${startedAt} → ${after})`;
    // In CI the suite is alone on its machine, so a restart was the suite's doing. On a shared
    // development machine, someone else may have restarted it: say so, but do not fail for it.
    if (process.env.CI) {
      totals.failed += 1;
      totals.failures.push(what);
    } else totals.notes.push(`${what}; not counted as a failure outside CI (another user of the server may have restarted it)`);
  }
}

for (const failure of totals.failures) process.stdout.write(`# failed: ${failure}\n`);
for (const note of totals.notes) process.stdout.write(`# note: ${note}\n`);
process.stdout.write(`ductwork: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(totals.failed > 0 ? 1 : 0);

async function postmasterStart(url: string): Promise<string | undefined> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const [row] = await sql`select pg_postmaster_start_time()::text as t`;
    return row?.t as string;
  } catch {
    return undefined;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}
