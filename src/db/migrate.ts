import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DatabaseError } from '../errors.js';
import { assertSchemaName, type Sql } from './connect.js';

/** Where the numbered `.sql` migrations ship: `sql/` at the package root. */
const SQL_DIR = fileURLToPath(new URL('../../../sql/', import.meta.url));

/** A migration file with its schema placeholder filled in. */
export interface Migration {
  name: string;
  sql: string;
}

/** The migrations shipped with this version, in order, rendered for `schema`. */
export function loadMigrations(schema: string): Migration[] {
  assertSchemaName(schema);
  return readdirSync(SQL_DIR)
    .filter((file) => /^\d+_.*\.sql$/.test(file))
    .sort()
    .map((file) => ({
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(SQL_DIR + file, 'utf8').replaceAll(':"schema"', `"${schema}"`),
    }));
}

/** The names of migrations already applied in `schema` (empty when it does not exist). */
export async function appliedMigrations(sql: Sql, schema: string): Promise<string[]> {
  const [exists] = await sql`select to_regclass(${`"${schema}".ductwork_migrations`}) is not null as ok`;
  if (!exists?.ok) return [];
  const rows = await sql`select name from ${sql(schema)}.ductwork_migrations order by name`;
  return rows.map((r) => r.name as string);
}

/**
 * Applies every pending migration, each in its own transaction under a transaction-level
 * advisory lock, so concurrent migrators (many pods starting at once) apply each migration
 * once: a migrator that waited for the lock finds it applied and skips it. Works on a pool of
 * one connection. Returns the names applied by this call.
 */
export async function migrate(sql: Sql, schema: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const migrations = loadMigrations(schema);
  const lockKey = 'ductwork.migrate.' + schema;
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`;
    await tx.unsafe(
      `create schema if not exists "${schema}";
       create table if not exists "${schema}".ductwork_migrations (
         name text primary key,
         applied_at timestamptz not null default clock_timestamp())`,
    );
  });
  const applied: string[] = [];
  // Loaded on demand: umzug brings a CLI framework and a JSON-schema validator that every engine
  // and worker thread would otherwise hold in memory (~10 MB each) without ever migrating.
  const { Umzug } = await import('umzug');
  const umzug = new Umzug({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: async () => {
        await sql.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`;
          const [done] = await tx`select 1 from ${tx(schema)}.ductwork_migrations where name = ${m.name}`;
          if (done) return; // another migrator applied it while we waited for the lock
          await tx.unsafe(m.sql);
          await tx`insert into ${tx(schema)}.ductwork_migrations (name) values (${m.name})`;
          applied.push(m.name);
          log(`applied ${m.name}`);
        });
      },
    })),
    storage: {
      executed: () => appliedMigrations(sql, schema),
      logMigration: async () => {},
      unlogMigration: async () => {},
    },
    logger: undefined,
  });
  try {
    await umzug.up();
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause ?? error;
    throw new DatabaseError('migration_failed', `Migrating schema "${schema}" failed: ${(cause as Error).message}`, { cause });
  }
  return applied;
}

/** Throws a clear error naming the command to run when `schema` lacks migrations. */
export async function assertMigrated(sql: Sql, schema: string): Promise<void> {
  const applied = new Set(await appliedMigrations(sql, schema));
  const missing = loadMigrations(schema).filter((m) => !applied.has(m.name)).map((m) => m.name);
  if (missing.length > 0) {
    throw new DatabaseError(
      'database_not_migrated',
      `Database schema "${schema}" is not migrated (missing: ${missing.join(', ')}). ` +
        `Run \`npx ductwork migrate\` (or call migrate() from your deploy step) before starting the engine.`,
      { details: { schema, missing } },
    );
  }
}
