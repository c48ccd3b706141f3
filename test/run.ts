/**
 * Runs every compiled test file (dist/test/**\/*.test.js) with node's test runner. A script
 * rather than a shell glob so that `npm test` works the same in sh, bash and cmd.exe, and on
 * Node 20 whose runner does not expand globs itself.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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

const first = await run(parallel, Math.max(2, availableParallelism()));
const second = await run(serial, 1);
process.exit(first || second);
