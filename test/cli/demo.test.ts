import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

// `ductwork demo` with no DATABASE_URL: a real embedded PostgreSQL from the npm registry, in a
// fresh working directory, as a new user without a database server would run it.
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'ductwork-demo-'));
chmodSync(cwd, 0o755); // a project directory, readable by the postgres user the server runs as under root
after(() => rmSync(cwd, { recursive: true, force: true }));

test('ductwork demo runs the example pipeline on an embedded PostgreSQL and exits 0', async () => {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'demo', '--items', '40'], { cwd, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /starting an embedded PostgreSQL for development \(data in \.ductwork\/pg\)/);
  assert.match(output, /steps 242\/242 · collapse 1 · combine 40 · converge 40 · divert 40 · divide 80 · expand 40 · start 1/);
  assert.match(output, /Completed in [\d.]+s: 40 items, \d+ published, \d+ backordered\./);
});
