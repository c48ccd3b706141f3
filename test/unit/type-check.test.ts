import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

// Compiles small pipelines against the built declarations (dist/src/index.d.ts) with the real
// TypeScript compiler: a mismatched pipeline must not compile, and its matched twin must.
const dist = fileURLToPath(new URL('../../', import.meta.url));
const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
const dir = mkdtempSync(join(dist, 'type-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function compile(name: string, source: string): Promise<{ code: number; output: string }> {
  const file = join(dir, name);
  writeFileSync(file, source);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', file],
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

const pipeline = (next: string) => `
import { Pipeline, Step } from '../src/index.js';
class Numbers extends Step { execute(n: number): number[] { return [n]; } }
class TakesNumbers extends Step { execute(ns: number[]) { return ns.length; } }
class TakesString extends Step { execute(s: string) { return s; } }
export class P extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Numbers).chain(${next}));
}
`;

test('a pipeline whose step output does not fit the next input does not compile', async () => {
  const bad = await compile('mismatched.ts', pipeline('TakesString'));
  assert.notEqual(bad.code, 0, 'tsc accepted a mismatched pipeline');
  assert.match(bad.output, /mismatched\.ts\(7,\d+\): error TS2\d+: .*typeof TakesString/);
  assert.match(bad.output, /Type 'number\[\]' is not assignable to type 'string'/);

  const good = await compile('matched.ts', pipeline('TakesNumbers'));
  assert.equal(good.code, 0, good.output);
});
