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
const child = spawn(process.execPath, ['--test', `--test-concurrency=${Math.max(2, availableParallelism())}`, ...files], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
