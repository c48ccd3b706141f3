/**
 * Runs every compiled test file (dist/test/**\/*.test.js) with node's test runner. A script
 * rather than a shell glob so that `npm test` works the same in sh, bash and cmd.exe, and on
 * Node 20 whose runner does not expand globs itself.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
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
// `*.serial.test.js` files disturb the shared database server (they restart it), so they run
// alone, after everything else.
const serial = files.filter((file) => file.endsWith('.serial.test.js'));
const parallel = files.filter((file) => !serial.includes(file));

function run(batch: string[], concurrency: number): Promise<number> {
  if (batch.length === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...batch], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

// The database: DATABASE_URL, else the local server when it answers, else an embedded PostgreSQL
// from the npm registry, so `npm test` passes on a machine with no database installed.
let embedded: { stop(): Promise<void> } | undefined;
if (!process.env.DATABASE_URL && !(await answers('127.0.0.1', 5432))) {
  const { startEmbeddedPostgres } = await import('../src/db/embedded.js');
  const database = await startEmbeddedPostgres({ dataDir: join(tmpdir(), `ductwork-test-pg-${process.pid}`) });
  process.env.DATABASE_URL = database.url;
  process.env.DUCTWORK_TEST_EMBEDDED = '1';
  embedded = database;
  process.stdout.write(`# no PostgreSQL at 127.0.0.1:5432 and no DATABASE_URL: testing on an embedded one (${database.url})\n`);
}

const first = await run(parallel, Math.max(2, availableParallelism()));
const second = await run(serial, 1);
await embedded?.stop();
process.exit(first || second);

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
