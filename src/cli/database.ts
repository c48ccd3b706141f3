import type { DuctworkClient } from '../client/client.js';
import { loadConfig, type ConfigFlags, type LoadedConfig } from '../config/load.js';
import { assertSchemaName, checkConnection } from '../db/connect.js';
import { assertDatabaseUrl } from '../db/database-url.js';
import type { EmbeddedDatabase } from '../db/embedded.js';
import { ConfigError } from '../errors.js';

/** The flags every command that needs a database takes. */
export interface DatabaseFlags {
  config?: string;
  databaseUrl?: string;
  schema?: string;
  embedded?: boolean;
}

/** Where a command's database is, and how it was chosen. */
export interface DatabaseTarget extends LoadedConfig {
  url: string;
  schema: string;
  /** The embedded server, when `--embedded` chose it. */
  embedded: EmbeddedDatabase | undefined;
  /** Stops the embedded server if this command started it. */
  release(): Promise<void>;
}

/** The configuration without the database: for commands such as `migrate --dry-run`. */
export function commandConfig(options: DatabaseFlags, flags: ConfigFlags = {}): LoadedConfig {
  return loadConfig({
    ...(options.config === undefined ? {} : { file: options.config }),
    flags: { ...flags, ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }), ...(options.schema === undefined ? {} : { schema: options.schema }) },
  });
}

/**
 * The one rule every command follows: `--database-url` > `DATABASE_URL` > the file's
 * `database.url`; `--schema` > `DUCTWORK_SCHEMA` > `database.schema` > `ductwork`. With
 * `--embedded` and none of those, the development PostgreSQL in `.ductwork/pg` (joined when
 * `ductwork dev`, `start --embedded` or `demo` runs it; else started for this command).
 */
export async function databaseTarget(options: DatabaseFlags, flags: ConfigFlags = {}, note: (line: string) => void = () => {}): Promise<DatabaseTarget> {
  const loaded = commandConfig(options, flags);
  const { config, sources } = loaded;
  assertSchemaName(config.database.schema, sources.schema);
  let embedded: EmbeddedDatabase | undefined;
  if (config.database.url) {
    assertDatabaseUrl(config.database.url, sources.url ?? 'database.url');
    if (options.embedded) note(`--embedded ignored: the database comes from ${sources.url}`);
  } else if (options.embedded) {
    const { startEmbeddedPostgres } = await import('../db/embedded.js');
    embedded = await startEmbeddedPostgres({ log: note });
    if (embedded.started) note(`Started the embedded development PostgreSQL (data in ${embedded.dataDir}) at ${embedded.url}`);
    config.database.url = embedded.url;
    sources.url = '--embedded';
  } else {
    throw noDatabase();
  }
  const database = embedded;
  return {
    ...loaded,
    url: config.database.url,
    schema: config.database.schema,
    embedded,
    release: async () => {
      await database?.stop();
    },
  };
}

/** What to do when no database is configured anywhere. */
export function noDatabase(): ConfigError {
  return new ConfigError(
    'config_invalid',
    'No database: pass --database-url, set DATABASE_URL, set database.url in the configuration file, ' +
      'or add --embedded to use a development PostgreSQL in .ductwork/pg.',
    { details: { key: 'database.url' } },
  );
}

/**
 * Runs `work` with a client on the command's database: reachable, and migrated (else the typed
 * error that names the command to run), then closes everything.
 */
export async function withClient<T>(options: DatabaseFlags, work: (client: DuctworkClient, target: DatabaseTarget) => Promise<T>, poolSize = 2): Promise<T> {
  const target = await databaseTarget(options, {}, (line) => process.stderr.write(`${line}\n`));
  try {
    // Loaded here, not at the top: `ductwork health` shares this module and must start fast.
    const [{ DuctworkClient }, { assertMigrated }] = await Promise.all([import('../client/client.js'), import('../db/migrate.js')]);
    const client = new DuctworkClient({ databaseUrl: target.url, schema: target.schema, poolSize });
    try {
      await checkConnection(client.sql, target.url);
      await assertMigrated(client.sql, target.schema);
      return await work(client, target);
    } finally {
      await client.close();
    }
  } finally {
    await target.release();
  }
}
