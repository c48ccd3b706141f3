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
 *
 * The pool is replaceable: postgres.js 3.4 can crash with "Cannot read properties of null
 * (reading 'write')" when a connection closes while a write is buffered, and leaves that
 * connection unable to send again (porsager/postgres#1154, #1208). While any Ductwork pool is
 * open, that one crash is caught and every Ductwork pool is swapped for a fresh one; queries on
 * the old pool fail with a connection error, which every Ductwork loop retries.
 */
export function connect(options: ConnectOptions): Sql {
  assertSchemaName(options.schema);
  const open = () =>
    postgres(options.url, {
      max: options.max ?? 10,
      onnotice: () => {},
      // The array-type fetch runs on every new connection, and its failure (a connection
      // terminated mid-fetch) is an unhandled rejection inside postgres.js. Ductwork needs no
      // fetched types: batches travel as one jsonb parameter ({@link rowsJson}).
      fetch_types: false,
      connect_timeout: 10,
      idle_timeout: options.idleTimeout ?? 60,
      ...(options.maxLifetime === undefined ? {} : { max_lifetime: options.maxLifetime }),
      connection: {
        application_name: options.applicationName ?? 'ductwork',
        search_path: `"${options.schema}"`,
      },
    }) as unknown as Sql;
  let current = open();
  const pool: ReplaceablePool = {
    replace() {
      const old = current;
      current = open();
      // Queries still queued on the old pool are rejected (CONNECTION_DESTROYED) and retried by their loops.
      void old.end({ timeout: 1 }).catch(() => {});
    },
  };
  livePools.add(pool);
  installDriverCrashGuard();
  const end = async (endOptions?: { timeout?: number }) => {
    livePools.delete(pool);
    if (livePools.size === 0) removeDriverCrashGuard();
    await current.end(endOptions);
  };
  return new Proxy(function ductworkSql() {}, {
    apply: (_target, _this, args: unknown[]) => (current as unknown as (...a: unknown[]) => unknown)(...args),
    get: (_target, property) => (property === 'end' ? end : Reflect.get(current, property)),
    has: (_target, property) => Reflect.has(current, property),
  }) as unknown as Sql;
}

interface ReplaceablePool {
  replace(): void;
}

const livePools = new Set<ReplaceablePool>();
let lastReplaced = -Infinity;

/** The postgres.js crash described on {@link connect}. */
export function isDriverWriteCrash(error: unknown): boolean {
  return (
    error instanceof TypeError &&
    /reading 'write'|evaluating 'socket\.write'/.test(error.message) &&
    /[\\/]postgres[\\/]/.test(error.stack ?? '') &&
    /nextWrite/.test(error.stack ?? '')
  );
}

/**
 * Swaps every Ductwork pool for a fresh one (at most once a second): the way out when a
 * connection is wedged. Safe at any time: the old pools' queries fail and are retried.
 */
export function replacePools(reason: string): void {
  if (performance.now() - lastReplaced < 1000) return;
  lastReplaced = performance.now();
  process.stderr.write(`ductwork: ${reason}; replacing the database pools\n`);
  for (const pool of livePools) pool.replace();
}

/**
 * Called by every loop that saw a database error. A connect timeout while the server answers
 * other connections is the symptom of a wedged postgres.js connection (one that lost a buffered
 * write keeps timing out forever), so the pools are replaced.
 */
export function noteDatabaseError(error: unknown): void {
  const code = (error as { code?: unknown })?.code;
  if (code === 'CONNECT_TIMEOUT' || code === 'DEADLINE_EXCEEDED') replacePools(`database call failed (${String(code)})`);
}

/** Error of {@link withDeadline}. */
export class DeadlineExceeded extends Error {
  readonly code = 'DEADLINE_EXCEEDED';
}

/**
 * Resolves like `work`, or rejects after `ms` so a loop never waits forever on a connection that
 * stopped answering (the abandoned promise settles or is dropped with its pool).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => {}); // a late failure of an abandoned call is not unhandled
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function onUncaughtException(error: unknown): void {
  if (isDriverWriteCrash(error)) {
    replacePools('postgres.js lost a connection mid-write (porsager/postgres#1154)');
    return;
  }
  // Any other error is not ours to handle: with no other handler, do what Node would have done.
  if (process.listenerCount('uncaughtException') === 1) {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  }
}

function installDriverCrashGuard(): void {
  if (!process.listeners('uncaughtException').includes(onUncaughtException)) process.on('uncaughtException', onUncaughtException);
}

function removeDriverCrashGuard(): void {
  process.off('uncaughtException', onUncaughtException);
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

const TRANSIENT_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE',
  'ETIMEDOUT', 'DEADLINE_EXCEEDED', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004',
]);

/** Whether an error means the database connection failed (worth retrying), not that the query was wrong. */
export function isTransientDbError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/**
 * Many rows as one jsonb parameter, read back with `jsonb_to_recordset(...) as t(col type, ...)`:
 * one round trip for any batch size, no 65k-parameter limit, and no dependence on array types.
 */
export function rowsJson(sql: Queryable, rows: readonly object[]) {
  return sql.json(rows as never);
}

/**
 * Ids as one Postgres array literal, cast in SQL (`= any(${idList(ids)}::uuid[])`). Unlike a
 * jsonb set, the planner knows the array's length, so lookups by key use the index even while a
 * fast-growing table's statistics still describe it as small. Ids are generated by Ductwork or
 * read from the database (uuids, integers), so no element needs quoting.
 */
export function idList(ids: readonly (string | number)[]): string {
  return `{${ids.join(',')}}`;
}
