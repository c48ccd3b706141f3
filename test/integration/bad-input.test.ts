import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { DuctworkClient } from '../../src/client/client.js';
import { Pipeline } from '../../src/client/pipeline.js';
import { Ductwork } from '../../src/runtime/engine.js';
import { createLogger } from '../../src/log.js';
import type { DuctworkError } from '../../src/errors.js';
import { DATABASE_URL, freshSchema, type TestSchema } from '../helpers/db.js';
import { FIXTURE_APP, startTestEngine } from '../helpers/engine.js';
import { ChainPipeline } from '../fixtures/pipelines.js';

let db: TestSchema;
let client: DuctworkClient;
const silent = createLogger('silent');

before(async () => {
  db = await freshSchema(import.meta.url);
  client = new DuctworkClient({ sql: db.sql, schema: db.schema });
});
after(async () => {
  await db?.drop();
});

const hasCode = (code: string, message?: RegExp) => (error: DuctworkError) => {
  assert.equal(error.code, code, `${error.code}: ${error.message}`);
  if (message) assert.match(error.message, message);
  return true;
};

describe('starting the engine', () => {
  test('on an unmigrated schema fails and says which command to run', async () => {
    await assert.rejects(
      Ductwork.start({ app: FIXTURE_APP, log: silent, database: { url: DATABASE_URL, schema: `never_migrated_${process.pid}` } }),
      hasCode('database_not_migrated', /schema "never_migrated_\d+" is not migrated \(missing: 001_core(, \d+_\w+)*\)\. Run `npx ductwork migrate`/),
    );
  });

  test('on an unreachable database fails with the redacted URL', async () => {
    await assert.rejects(
      Ductwork.start({ app: FIXTURE_APP, log: silent, database: { url: 'postgres://someone:secret@127.0.0.1:1/nothing', schema: db.schema } }),
      (error: DuctworkError) => {
        hasCode('database_unreachable', /Cannot connect to PostgreSQL at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nothing/)(error);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
  });

  test('without any database configured fails naming database.url', async () => {
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      await assert.rejects(Ductwork.start({ app: FIXTURE_APP, log: silent }), hasCode('config_invalid', /database\.url is not set/));
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });

  test('with an unknown configuration key fails with a suggestion', async () => {
    await assert.rejects(
      Ductwork.start({ app: FIXTURE_APP, log: silent, job_worker: { max_retries: 3 } } as never),
      hasCode('config_invalid', /job_worker\.max_retries is not a configuration key; did you mean "job_worker\.max_retry"\?/),
    );
  });

  test('with an unknown pipeline name fails listing the known ones', async () => {
    await assert.rejects(
      Ductwork.start({ app: FIXTURE_APP, log: silent, pipelines: ['NoSuchPipeline'], database: { url: DATABASE_URL, schema: db.schema } }),
      hasCode('unknown_pipeline', /"NoSuchPipeline" is not exported by the app module \(known: .*ChainPipeline/),
    );
  });

  test('with an app module that cannot be loaded fails naming it', async () => {
    await assert.rejects(
      Ductwork.start({ app: './no/such/module.js', log: silent, database: { url: DATABASE_URL, schema: db.schema } }),
      hasCode('app_module_invalid', /Cannot load the app module \.\/no\/such\/module\.js/),
    );
  });
});

describe('triggering', () => {
  test('an input that is not JSON is refused before anything is written', async () => {
    const [{ before: count }] = await db.sql`select count(*)::int as before from pipelines`;
    await assert.rejects(client.trigger(ChainPipeline, 10n as never), hasCode('trigger_input_not_json', /ChainPipeline\.trigger: the input is not JSON at \$: a bigint/));
    const [{ after: count2 }] = await db.sql`select count(*)::int as after from pipelines`;
    assert.equal(count2, count);
  });

  test('a pipeline class without a definition is refused', async () => {
    class Undefined extends Pipeline {}
    await assert.rejects(client.trigger(Undefined, 1), hasCode('pipeline_not_defined', /Pipeline must be defined before triggering: Undefined/));
  });

  test('status of an unknown or malformed id is a typed error', async () => {
    await assert.rejects(client.status('not-a-uuid'), hasCode('pipeline_not_found'));
    await assert.rejects(client.status('01a20bc8-79b3-77dd-9b48-ed2d944d591c'), hasCode('pipeline_not_found', /No pipeline with id/));
  });
});

describe('stored runs the code no longer matches', () => {
  test('an unknown step name and an unreadable input fail with typed errors and keep what was committed', async () => {
    const renamed = await client.trigger(ChainPipeline, 1);
    const garbled = await client.trigger(ChainPipeline, 2);
    // The first steps are queued (no engine runs yet): their jobs hold what they will run.
    await db.sql`update jobs set klass = 'RenamedAway' where run_id = ${(await renamed.status()).runId}`;
    await db.sql`update jobs set input = '{not json' where run_id = ${(await garbled.status()).runId}`;
    const engine = await startTestEngine(db, { pipelines: ['ChainPipeline'], job_worker: { max_retry: 1 } });
    try {
      for (const [handle, code, message] of [
        [renamed, 'unknown_step', /Unknown step "RenamedAway"/],
        [garbled, 'step_input_invalid', /Step Double: its stored input is not valid JSON/],
      ] as const) {
        const report = await handle.wait({ timeoutMs: 15_000 });
        assert.equal(report.status, 'halted');
        assert.deepEqual(report.halts.map((h) => h.reason), ['job_retries_exhausted']);
        const executions = await db.sql`select error_code, error_message from attempts where run_id = ${report.runId}`;
        assert.equal(executions.length, 2);
        for (const e of executions) {
          assert.equal(e.error_code, code);
          assert.match(e.error_message, message);
        }
        const [pipeline] = await db.sql`select status from pipelines where id = ${handle.id}`;
        assert.equal(pipeline!.status, 'halted');
      }
    } finally {
      await engine.stop();
    }
  });
});

test('a client without a database names what to set', () => {
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    assert.throws(() => new DuctworkClient(), hasCode('config_invalid', /pass \{ database: \{ url \} \} or set DATABASE_URL/));
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  }
});

test('the migrator is safe to run from many processes at once', async () => {
  const schema = `concurrent_migrate_${process.pid}`;
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop schema if exists "${schema}" cascade`);
  const { migrate, loadMigrations } = await import('../../src/db/migrate.js');
  const shipped = loadMigrations(schema).length;
  const { connect } = await import('../../src/db/connect.js');
  const pools = Array.from({ length: 4 }, () => connect({ url: DATABASE_URL, schema, max: 2 }));
  try {
    const applied = await Promise.all(pools.map((sql) => migrate(sql, schema)));
    // Each migration applied exactly once, by whichever migrator got its lock first.
    assert.deepEqual(applied.flat().sort(), loadMigrations(schema).map((m) => m.name));
    const [{ n }] = await admin.unsafe(`select count(*)::int as n from "${schema}".ductwork_migrations`);
    assert.equal(n, shipped);
  } finally {
    await Promise.all(pools.map((sql) => sql.end()));
    await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
});
