/** The programmatic migrate: umzug's ordering and books, the advisory lock, `to`, and typed errors. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { connect } from '../../src/db/connect.js';
import { appliedMigrations, assertMigrated, loadMigrations, migrate } from '../../src/db/migrate.js';
import { DATABASE_URL } from '../helpers/db.js';

const schema = `t_migrate_api_${process.pid}`;
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
const sql = connect({ url: DATABASE_URL, schema, max: 1 });
const reset = () => admin.unsafe(`drop schema if exists "${schema}" cascade`);
await reset();
after(async () => {
  await reset();
  await sql.end();
  await admin.end();
});
const all = loadMigrations(schema).map((m) => m.name);

test('migrate(sql, schema, { to }) stops at the named migration; a later call applies the rest', async () => {
  await reset();
  assert.deepEqual(await migrate(sql, schema, { to: '002_hot_path' }), ['001_core', '002_hot_path']);
  assert.deepEqual(await appliedMigrations(sql, schema), ['001_core', '002_hot_path']);
  await assert.rejects(assertMigrated(sql, schema), (e: Error & { code?: string }) => e.code === 'database_not_migrated' && /missing: 003_dashboard/.test(e.message));
  assert.deepEqual(await migrate(sql, schema, { to: '001_core' }), [], 'already past it: nothing to do');
  const lines: string[] = [];
  assert.deepEqual(await migrate(sql, schema, (line) => lines.push(line)), all.slice(2));
  assert.deepEqual(lines, all.slice(2).map((name) => `applied ${name}`));
  await assertMigrated(sql, schema);
});

test('an unknown `to` is a typed error naming the known migrations', async () => {
  await assert.rejects(migrate(sql, schema, { to: '003_dashbord' }), (e: Error & { code?: string }) =>
    e.code === 'config_invalid' && /no migration named "003_dashbord" \(known: 001_core, 002_hot_path, 003_dashboard/.test(e.message));
});

test('eight concurrent migrators: every migration applied exactly once, each call sees the schema complete', async () => {
  await reset();
  const pools = Array.from({ length: 8 }, () => connect({ url: DATABASE_URL, schema, max: 1 }));
  try {
    const results = await Promise.all(pools.map((pool, i) => (i % 2 ? migrate(pool, schema) : migrate({ url: DATABASE_URL, schema }))));
    assert.deepEqual(results.flat().sort(), all, 'each migration applied by exactly one caller');
    const rows = await admin.unsafe(`select name from "${schema}".ductwork_migrations order by name`);
    assert.deepEqual(rows.map((r) => r.name), all);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('a failing migration rolls back with its bookkeeping, and says which one failed', async () => {
  await reset();
  // 001_core creates pipelines, then runs: a runs table already there makes it fail half-way.
  await admin.unsafe(`create schema "${schema}"; create table "${schema}".runs (id int)`);
  await assert.rejects(migrate(sql, schema), (e: Error & { code?: string }) =>
    e.code === 'migration_failed' && /Migrating schema "t_migrate_api_\d+" \(001_core\) failed: relation "runs" already exists/.test(e.message));
  const [pipelines] = await admin`select to_regclass(${`"${schema}".pipelines`}) as t`;
  assert.equal(pipelines!.t, null, 'the statements before the failure were rolled back');
  assert.deepEqual(await appliedMigrations(sql, schema), []);
  await admin.unsafe(`drop table "${schema}".runs`);
  assert.deepEqual(await migrate(sql, schema), all, 'the next run applies everything');
});

test('migrate({ url, schema }) refuses a URL that is not one, naming where it came from', async () => {
  await assert.rejects(migrate({ url: 'not a url', schema }), /migrate\(\{ url \}\): "not a url" is not a URL/);
  await assert.rejects(migrate({ url: 'postgress://localhost/app', schema }), /the URL scheme "postgress:\/\/" is not a PostgreSQL one \(did you mean "postgres:\/\/"\?\)/);
});
