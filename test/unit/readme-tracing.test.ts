import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { connect } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrate.js';
import { DATABASE_URL } from '../helpers/db.js';

// Runs the README's tracing example as written, with only its imports of this package pointed at
// this checkout's build. It runs from a folder inside the checkout, so that the OpenTelemetry SDK
// (a devDependency) resolves as it would in an application.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(root, 'dist', 'readme-tracing-'));
const SCHEMA = 'tracing_example';
const admin = () => postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
before(async () => {
  const sql = admin();
  await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  await sql.end();
  const migrating = connect({ url: DATABASE_URL, schema: SCHEMA, max: 1 });
  await migrate(migrating, SCHEMA);
  await migrating.end();
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const sql = admin();
  await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  await sql.end();
});

test('the README tracing example prints the spans of the pipeline', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /<!-- executed by test\/unit\/readme-tracing\.test\.ts -->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has the marked example');
  const source = block
    .replace("from 'ductwork'", `from '${pathToFileURL(join(root, 'dist/src/index.js')).href}'`)
    .replace("'./dist/examples/etl.js';", `'${pathToFileURL(join(root, 'dist/examples/etl.js')).href}';`);
  const file = join(dir, 'readme-tracing.mjs');
  writeFileSync(file, source);
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL };
  delete env.NODE_TEST_CONTEXT;
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [file], { cwd: root, env, timeout: 120_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /amountCents: 750000/, 'the pipeline completed');
  const traceIds = (name: string) => [...output.matchAll(new RegExp(`traceId: '([0-9a-f]{32})',[\\s\\S]*?name: '${name.replace('.', '\\.')}'`, 'g'))].map((m) => m[1]);
  const [trigger] = traceIds('ductwork.trigger');
  assert.ok(trigger, output.slice(0, 2000));
  assert.ok(traceIds('ductwork.step').length >= 5, 'a span per step attempt');
  assert.ok(traceIds('ductwork.advance').length >= 1, 'a span per advancement');
  assert.ok([...traceIds('ductwork.step'), ...traceIds('ductwork.advance')].every((id) => id === trigger), 'all in the trigger\'s trace');
});
