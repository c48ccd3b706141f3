import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import postgres from 'postgres';
import { DuctworkClient } from '../../src/client/client.js';
import { connect, type Sql } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrate.js';

/** The database tests use: DATABASE_URL, else the local server. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema of its own for one test file (parallel-safe), migrated, plus a pool on it. */
export interface TestSchema {
  schema: string;
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates `t_<file>_<pid>` afresh and migrates it. */
export async function freshSchema(metaUrl: string, suffix = ''): Promise<TestSchema> {
  const file = basename(fileURLToPath(metaUrl)).replace(/\.test\.js$/, '').replace(/[^a-z0-9]+/gi, '_').toLowerCase();
  const schema = `t_${file}${suffix}_${process.pid}`.slice(0, 60);
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop schema if exists "${schema}" cascade`);
  await admin.end();
  const sql = connect({ url: DATABASE_URL, schema, max: 6, applicationName: 'ductwork-test' });
  await migrate(sql, schema);
  return {
    schema,
    url: DATABASE_URL,
    sql,
    async drop() {
      await sql.unsafe(`drop schema if exists "${schema}" cascade`).catch(() => {});
      await sql.end({ timeout: 5 });
    },
  };
}

/** Registers a process row for a test that claims jobs by hand (claims require a live owner row). */
export async function fakeProcess(db: TestSchema, pid = 1): Promise<string> {
  const { uuidv7 } = await import('../../src/db/ids.js');
  const id = uuidv7();
  await db.sql`insert into processes (id, pid, host, role, lock_key) values (${id}, ${pid}, 'test-host', 'job_worker', ${String(Date.now())})`;
  return id;
}

/**
 * The usual start of a test file with no engine of its own: a fresh schema (dropped after the
 * file's tests) and a client on it.
 */
export async function testDatabase(metaUrl: string): Promise<{ db: TestSchema; client: DuctworkClient }> {
  const db = await freshSchema(metaUrl);
  after(() => db.drop());
  return { db, client: new DuctworkClient({ sql: db.sql, schema: db.schema }) };
}
