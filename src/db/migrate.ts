import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, DatabaseError } from '../errors.js';
import { assertSchemaName, checkConnection, connect, redactUrl, type Sql, type TxSql } from './connect.js';
import { assertDatabaseUrl } from './database-url.js';

/** Where the numbered `.sql` migrations ship: `sql/` at the package root. */
const SQL_DIR = fileURLToPath(new URL('../../../sql/', import.meta.url));

/** A migration file with its schema placeholder filled in. */
export interface Migration {
  name: string;
  sql: string;
}

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Apply pending migrations up to and including this one (e.g. `'003_dashboard'`), not beyond. */
  to?: string;
  /** Receives one line per applied migration (`applied 001_core`). */
  log?: (line: string) => void;
}

/** Options of the standalone {@link migrate}: where, plus {@link MigrateOptions}. */
export interface MigrateDatabaseOptions extends MigrateOptions {
  /** PostgreSQL URL; defaults to `DATABASE_URL`. */
  url?: string;
  /** Schema to create or upgrade (default: `DUCTWORK_SCHEMA`, then `ductwork`). */
  schema?: string;
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
export async function appliedMigrations(sql: Sql | TxSql, schema: string): Promise<string[]> {
  const [exists] = await sql`select to_regclass(${`"${schema}".ductwork_migrations`}) is not null as ok`;
  if (!exists?.ok) return [];
  const rows = await sql`select name from ${sql(schema)}.ductwork_migrations order by name`;
  return rows.map((r) => r.name as string);
}

/**
 * Creates or upgrades the schema: every pending migration (or those up to `to`), in order.
 *
 * ```ts
 * await migrate({ url: process.env.DATABASE_URL, schema: 'jobs' });   // opens and closes its own connection
 * await migrate(sql, 'jobs', { to: '003_dashboard' });                 // on a pool you already have
 * ```
 *
 * umzug orders the migrations and keeps the books in the schema's `ductwork_migrations` table.
 * The run is one transaction under an advisory lock, so concurrent migrators (many pods starting
 * at once) take turns and a later one finds the work done, and a failure or a crash leaves the
 * schema as it was: no migration is ever half-applied. (So a migration cannot use CREATE INDEX
 * CONCURRENTLY, nor use an enum value that an earlier pending migration adds.) Resolves with the
 * names this call applied.
 */
export async function migrate(options: MigrateDatabaseOptions): Promise<string[]>;
export async function migrate(sql: Sql, schema: string, options?: MigrateOptions | ((line: string) => void)): Promise<string[]>;
export async function migrate(
  target: Sql | MigrateDatabaseOptions,
  schemaArg?: string,
  optionsArg: MigrateOptions | ((line: string) => void) = {},
): Promise<string[]> {
  if (typeof target !== 'function') return migrateDatabase(target);
  const options = typeof optionsArg === 'function' ? { log: optionsArg } : optionsArg;
  const schema = schemaArg!;
  const migrations = loadMigrations(schema);
  if (options.to !== undefined && !migrations.some((m) => m.name === options.to)) {
    throw new ConfigError('config_invalid', `migrate: no migration named "${options.to}" (known: ${migrations.map((m) => m.name).join(', ')}).`, {
      details: { key: 'to', to: options.to },
    });
  }
  const lockKey = 'ductwork.migrate.' + schema;
  // One transaction for the whole run, under a transaction-level advisory lock: concurrent
  // migrators take turns, and a later one finds the work done. (Not a reserved connection and a
  // session lock: postgres.js 3.4's reserve() can wait forever on a pool that has not connected.)
  return target.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`;
    return runUmzug(tx, schema, migrations, options);
  });
}

async function runUmzug(tx: TxSql, schema: string, migrations: Migration[], options: MigrateOptions): Promise<string[]> {
  await tx.unsafe(
    `create schema if not exists "${schema}";
     create table if not exists "${schema}".ductwork_migrations (
       name text primary key,
       applied_at timestamptz not null default clock_timestamp())`,
  );
  // `to` names a migration already applied: nothing up to it is pending.
  if (options.to !== undefined && (await appliedMigrations(tx, schema)).includes(options.to)) return [];
  // Loaded on demand: umzug brings a CLI framework and a JSON-schema validator that every engine
  // and worker thread would otherwise hold in memory (~10 MB each) without ever migrating.
  const { Umzug } = await import('umzug');
  const umzug = new Umzug({
    migrations: migrations.map((m) => ({ name: m.name, up: async () => void (await tx.unsafe(m.sql)) })),
    storage: {
      executed: () => appliedMigrations(tx, schema),
      logMigration: async ({ name }) => void (await tx`insert into ${tx(schema)}.ductwork_migrations (name) values (${name})`),
      unlogMigration: async ({ name }) => void (await tx`delete from ${tx(schema)}.ductwork_migrations where name = ${name}`),
    },
    logger: undefined,
  });
  umzug.on('migrated', ({ name }) => options.log?.(`applied ${name}`));
  try {
    const applied = await umzug.up(options.to === undefined ? {} : { to: options.to });
    return applied.map((m) => m.name);
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause ?? error;
    const name = (error as { migration?: { name?: string } }).migration?.name;
    throw new DatabaseError('migration_failed', `Migrating schema "${schema}"${name ? ` (${name})` : ''} failed: ${(cause as Error).message}`, { cause });
  }
}

async function migrateDatabase(options: MigrateDatabaseOptions): Promise<string[]> {
  const url = options.url ?? process.env.DATABASE_URL;
  if (!url) throw new ConfigError('config_invalid', 'migrate: no database: pass { url } or set DATABASE_URL.', { details: { key: 'database.url' } });
  const schema = options.schema ?? (process.env.DUCTWORK_SCHEMA || 'ductwork');
  assertDatabaseUrl(url, options.url === undefined ? 'DATABASE_URL' : 'migrate({ url })');
  const sql = connect({ url, schema, max: 1, applicationName: 'ductwork-migrate' });
  try {
    await checkConnection(sql, url);
    return await migrate(sql, schema, options);
  } catch (error) {
    if (error instanceof DatabaseError || error instanceof ConfigError) throw error;
    throw new DatabaseError('migration_failed', `Migrating ${redactUrl(url)} schema "${schema}" failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Throws a clear error naming the command to run when `schema` lacks migrations. */
export async function assertMigrated(sql: Sql, schema: string): Promise<void> {
  const applied = new Set(await appliedMigrations(sql, schema));
  const missing = loadMigrations(schema).filter((m) => !applied.has(m.name)).map((m) => m.name);
  if (missing.length > 0) {
    throw new DatabaseError(
      'database_not_migrated',
      `Database schema "${schema}" is not migrated (missing: ${missing.join(', ')}). ` +
        `Run \`npx ductwork migrate\`${schema === 'ductwork' ? '' : ` with --schema ${schema}`} (or call migrate() from your deploy step) first.`,
      { details: { schema, missing } },
    );
  }
}
