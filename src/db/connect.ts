import postgres from 'postgres';
import { ConfigError, DatabaseError } from '../errors.js';
import { canWatch, watchedSocket } from './watched-socket.js';

/** The postgres.js client type used throughout Ductwork. */
export type Sql = postgres.Sql<Record<string, never>>;
/** A transaction-scoped client (inside `sql.begin`). */
export type TxSql = postgres.TransactionSql<Record<string, never>>;
/** Anything that can run a query: the pool or a transaction. */
export type Queryable = Sql | TxSql;

/** Server-side limits of one session, set as connection parameters (milliseconds; 0 = none). */
export interface SessionLimits {
  /** `statement_timeout`: the server cancels a statement running longer (SQLSTATE 57014). */
  statementMs: number;
  /** `lock_timeout`: the server gives up waiting for one lock (55P03). */
  lockMs: number;
  /** `idle_in_transaction_session_timeout`: the server ends a session left idle inside a transaction. */
  idleInTransactionMs: number;
}

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
  /** Server-side limits for every session of this pool (its purpose decides them); default: the server's. */
  limits?: SessionLimits;
  /**
   * Client-side deadline of one query, in ms: a query not answered by then is canceled (a queued
   * one leaves the queue; a running one gets a cancel request), so a stuck call never holds its
   * connection past it. Default: none.
   */
  queryDeadlineMs?: number;
  /**
   * Whether this pool is swapped for a fresh one after the postgres.js write crash (see
   * {@link connect}). False for dedicated connections whose session matters (the liveness lock).
   * Default true.
   */
  replaceable?: boolean;
  /** Called when one of the pool's connections closes (the session, and its locks, are gone). */
  onClose?: () => void;
  /**
   * Called when a connection of the pool stopped sending (see {@link watchedSocket}): after the
   * pool was swapped when it is replaceable; otherwise the owner reopens it (the liveness lock).
   */
  onStalled?: () => void;
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

/** postgres.js query objects: promises with a `cancel()`, executed when first awaited. */
interface PendingQuery extends Promise<unknown> {
  cancel(): unknown;
}

function isPendingQuery(value: unknown): value is PendingQuery {
  return value instanceof Promise && typeof (value as { cancel?: unknown }).cancel === 'function';
}

/**
 * Arms a deadline on a query when it is first awaited (fragments, never awaited, never run and
 * are left alone): past it, the query is canceled. A cancel that cannot reach the server (it
 * does not answer) changes nothing, and the server-side `statement_timeout` bounds the rest.
 */
function withQueryDeadline<T>(query: T, ms: number): T {
  if (!isPendingQuery(query)) return query;
  const then = query.then;
  let armed = false;
  Object.defineProperty(query, 'then', {
    configurable: true,
    value(this: PendingQuery, ...args: Parameters<Promise<unknown>['then']>) {
      if (!armed) {
        armed = true;
        const timer = setTimeout(() => {
          void Promise.resolve(query.cancel()).catch(() => {});
        }, ms);
        timer.unref();
        const clear = () => clearTimeout(timer);
        Promise.prototype.then.call(query, clear, clear);
      }
      return then.apply(this, args);
    },
  });
  return query;
}

/** A tagged-template client whose queries (and those of its transactions) carry a deadline. */
function deadlined<S extends object>(target: () => S, ms: number | undefined, end?: (options?: { timeout?: number }) => Promise<void>, losses?: ConnectionLosses): S {
  return new Proxy(function ductworkSql() {}, {
    apply: (_t, _this, args: unknown[]) => {
      const result = (target() as unknown as (...a: unknown[]) => unknown)(...args);
      return ms === undefined ? result : withQueryDeadline(result, ms);
    },
    get: (_t, property) => {
      if (property === 'end' && end) return end;
      if (property === CONNECTION_LOSSES) return losses;
      const value = Reflect.get(target(), property) as unknown;
      if (ms === undefined || typeof value !== 'function') return value;
      if (property === 'unsafe') return (...args: unknown[]) => withQueryDeadline((value as (...a: unknown[]) => unknown)(...args), ms);
      if (property === 'begin' || property === 'savepoint') {
        // Queries inside a transaction run on the transaction's client: give them the deadline too.
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: object) => unknown;
          return (value as (...a: unknown[]) => unknown)(...args, (tx: object) => fn(deadlined(() => tx, ms)));
        };
      }
      return value;
    },
    has: (_t, property) => Reflect.has(target(), property),
  }) as unknown as S;
}

/**
 * Opens a pool whose search_path is the Ductwork schema, so run-time queries name tables
 * unqualified. Connection errors surface on first use; call {@link checkConnection} to fail fast.
 * The pool never holds more than `max` sessions: a slow or stuck call is bounded by the session's
 * server-side limits and by the query deadline (a cancel), never by opening more connections.
 *
 * One exception, kept narrow: postgres.js 3.4 can crash with "Cannot read properties of null
 * (reading 'write')" when a connection closes while a write is buffered (porsager/postgres#1154,
 * #1208), an exception thrown from a timer that no caller can catch. While any Ductwork pool is
 * open, that one crash is caught, and the replaceable pools are swapped for fresh ones: each old
 * pool is closed first (its sockets destroyed), so the swap does not add sessions. Dedicated
 * connections (`replaceable: false`: the liveness lock, LISTEN) are never swapped.
 */
export function connect(options: ConnectOptions): Sql {
  assertSchemaName(options.schema);
  const limits = options.limits;
  const replaceable = options.replaceable ?? true;
  const watch = canWatch(options.url);
  let generation = 0;
  const open = (opened = ++generation) =>
    postgres(options.url, {
      max: options.max ?? 10,
      ...(watch ? { socket: watchedSocket(() => stalled(opened), () => lost()) as never } : {}),
      onnotice: () => {},
      // The array-type fetch runs on every new connection, and its failure (a connection
      // terminated mid-fetch) is an unhandled rejection inside postgres.js. Ductwork needs no
      // fetched types: batches travel as one jsonb parameter ({@link rowsJson}).
      fetch_types: false,
      connect_timeout: 10,
      idle_timeout: options.idleTimeout ?? 60,
      ...(options.maxLifetime === undefined ? {} : { max_lifetime: options.maxLifetime }),
      ...(options.onClose ? { onclose: () => options.onClose!() } : {}),
      connection: {
        application_name: options.applicationName ?? 'ductwork',
        search_path: `"${options.schema}"`,
        ...(limits
          ? {
              statement_timeout: Math.round(limits.statementMs),
              lock_timeout: Math.round(limits.lockMs),
              idle_in_transaction_session_timeout: Math.round(limits.idleInTransactionMs),
            }
          : {}),
      },
    }) as unknown as Sql;
  let current = open();
  const pool: ReplaceablePool = {
    replace() {
      const old = current;
      // Closed at once (sockets destroyed) before the new pool opens any connection, so the
      // number of sessions does not grow; the old pool's queries fail with a connection error,
      // which every Ductwork loop retries.
      void old.end({ timeout: 0 }).catch(() => {});
      current = open();
    },
  };
  const losses: ConnectionLosses = { lastAt: -Infinity, listeners: new Set() };
  const lost = () => {
    losses.lastAt = performance.now();
    for (const listener of losses.listeners) listener();
  };
  // A connection that stopped sending never recovers on its own: a replaceable pool is swapped
  // at once (only the pool it belongs to, once); any other owner is told.
  const stalled = (opened: number) => {
    if (opened !== generation || ended) return;
    process.stderr.write('ductwork: a postgres.js connection stopped sending after its socket closed mid-write; ' +
      (replaceable ? 'reopening its pool\n' : 'its owner reopens it\n'));
    if (replaceable) pool.replace();
    options.onStalled?.();
  };
  if (replaceable) livePools.add(pool);
  installDriverCrashGuard();
  openPools.count++;
  let ended = false;
  const end = async (endOptions?: { timeout?: number }) => {
    if (!ended) {
      ended = true;
      livePools.delete(pool);
      if (--openPools.count === 0) removeDriverCrashGuard();
    }
    await current.end(endOptions);
  };
  return deadlined(() => current, options.queryDeadlineMs, end, losses);
}

interface ConnectionLosses {
  /** When a connection of the pool was last lost to an error (performance.now()). */
  lastAt: number;
  listeners: Set<() => void>;
}

// Where a Ductwork pool shows its connection losses (see withDeadline).
const CONNECTION_LOSSES = Symbol('ductwork.connectionLosses');

/** How long a call may stay pending after a connection of its pool was lost to an error. */
export const PENDING_AFTER_LOSS_MS = 5000;

interface ReplaceablePool {
  replace(): void;
}

// The crash guard is process-wide (an uncaught exception belongs to the process), so the pools it
// may swap are too. Both are emptied as pools end.
const livePools = new Set<ReplaceablePool>();
const openPools = { count: 0 };

/** The postgres.js crash described on {@link connect}. */
export function isDriverWriteCrash(error: unknown): boolean {
  return (
    error instanceof TypeError &&
    /reading 'write'|evaluating 'socket\.write'/.test(error.message) &&
    /[\\/]postgres[\\/]/.test(error.stack ?? '') &&
    /nextWrite/.test(error.stack ?? '')
  );
}

/** Error of {@link withDeadline}. */
export class DeadlineExceeded extends Error {
  readonly code = 'DEADLINE_EXCEEDED';
}

/**
 * Resolves like `work`, or rejects after `ms` so a loop never waits forever on a database that
 * stopped answering. The queries of the abandoned call are canceled by their own deadline
 * ({@link ConnectOptions.queryDeadlineMs}) and the server's `statement_timeout`, so the
 * connection they hold comes back to the pool; nothing is replaced.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string, pool?: Sql): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let afterLoss: NodeJS.Timeout | undefined;
  const losses = pool && (Reflect.get(pool, CONNECTION_LOSSES) as ConnectionLosses | undefined);
  let onLoss: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not answer within ${ms} ms`)), ms);
    // postgres.js 3.4 can leave a query pending for ever on a connection that was reset (its
    // close returns early while the connection reconnects): once a connection of the pool was
    // lost (while it runs, or just before it started), a call still pending a few seconds later
    // is given up like a missed deadline, and the loop retries it (its claims are fenced, and the
    // late-commit looks find what it left).
    onLoss = () => {
      afterLoss ??= setTimeout(() => reject(new DeadlineExceeded(`${what} got no answer within ${PENDING_AFTER_LOSS_MS} ms of a lost connection`)), PENDING_AFTER_LOSS_MS);
    };
    if (losses) {
      losses.listeners.add(onLoss);
      if (performance.now() - losses.lastAt < PENDING_AFTER_LOSS_MS) onLoss();
    }
  });
  work.catch(() => {}); // a late failure of an abandoned call is not unhandled
  return Promise.race([work, deadline]).finally(() => {
    clearTimeout(timer);
    clearTimeout(afterLoss);
    if (onLoss) losses?.listeners.delete(onLoss);
  });
}

/**
 * The server-side limits and query deadline of an engine connection, from `database.call_timeout`
 * (seconds): a statement may run that long, a lock wait a third of it (at most 10 s: the engine's
 * own locks are held for milliseconds), and a transaction left idle is ended after it. The
 * client-side deadline is a little longer, so the server's own cancel normally comes first.
 */
export function engineLimits(callTimeoutSeconds: number): { limits: SessionLimits; queryDeadlineMs: number } {
  const ms = callTimeoutSeconds * 1000;
  return {
    limits: { statementMs: ms, lockMs: Math.min(10_000, Math.max(100, ms / 3)), idleInTransactionMs: ms },
    queryDeadlineMs: ms + 2000,
  };
}

function onUncaughtException(error: unknown): void {
  if (isDriverWriteCrash(error)) {
    process.stderr.write('ductwork: postgres.js lost a connection mid-write (porsager/postgres#1154); reopening the engine pools\n');
    for (const pool of livePools) pool.replace();
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

export { classifyDbError, isTransientDbError, type DbErrorClass } from './classify-error.js';

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
