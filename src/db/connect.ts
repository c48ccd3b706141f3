import postgres from 'postgres';
import { ConfigError, DatabaseError } from '../errors.js';

/** The postgres.js client type used throughout Ductwork. */
export type Sql = postgres.Sql<Record<string, never>>;
/** A transaction-scoped client (inside `sql.begin`). */
export type TxSql = postgres.TransactionSql<Record<string, never>>;
/** Anything that can run a query: the pool or a transaction. */
export type Queryable = Sql | TxSql;

/** Options for the engine's or a client's connection pool. */
export interface ConnectOptions {
  url: string;
  schema: string;
  /** Pool size. */
  max?: number;
  applicationName?: string;
  /** Seconds before an idle connection closes (default 60; 0 = never). */
  idleTimeout?: number;
  /** Seconds before a connection is replaced (default: postgres.js's 30–60 min; null = never). */
  maxLifetime?: number | null;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks a schema name; it is used as an identifier, so only plain names are allowed. */
export function assertSchemaName(schema: string, where = 'database.schema'): void {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new ConfigError('config_invalid', `${where}: "${String(schema)}" is not a valid schema name (letters, digits and _ only, not starting with a digit).`, {
      details: { key: where },
    });
  }
}

/**
 * Opens a pool whose search_path is the Ductwork schema, so run-time queries name tables
 * unqualified. Connection errors surface on first use; call {@link checkConnection} to fail fast.
 */
export function connect(options: ConnectOptions): Sql {
  assertSchemaName(options.schema);
  return postgres(options.url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: options.idleTimeout ?? 60,
    ...(options.maxLifetime === undefined ? {} : { max_lifetime: options.maxLifetime }),
    connection: {
      application_name: options.applicationName ?? 'ductwork',
      search_path: `"${options.schema}"`,
    },
  }) as unknown as Sql;
}

/** Runs a trivial query so an unreachable database fails now, with a clear message. */
export async function checkConnection(sql: Sql, url: string): Promise<void> {
  try {
    await sql`select 1`;
  } catch (error) {
    throw new DatabaseError(
      'database_unreachable',
      `Cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}. ` +
        'Check database.url / DATABASE_URL and that the server is running.',
      { cause: error, details: { url: redactUrl(url) } },
    );
  }
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}
