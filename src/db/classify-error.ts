/**
 * Whether a database error is worth retrying as it is. Every engine loop asks this one function,
 * so "the database was unreachable or busy" and "this write can never succeed" are told apart
 * the same way everywhere.
 *
 * Transient: the connection (lost, refused, reset, timed out, SQLSTATE class 08), the server
 * shutting down or restarting (57P01/57P02/57P03), a serialization failure (40001), a deadlock
 * (40P01), a lock timeout (55P03), and a statement canceled by a deadline (57014: our own
 * `statement_timeout` or a client-side cancel). Everything else (bad data, a constraint, a
 * syntax or permission error, a bug) is permanent: it fails the same way again.
 */
export type DbErrorClass = 'transient' | 'permanent';

/** Driver and socket error codes that mean the connection, not the statement, failed. */
const CONNECTION_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  // Ductwork's own client-side deadline (src/db/connect.ts withDeadline): the call may be retried.
  'DEADLINE_EXCEEDED',
]);

/** SQLSTATEs, outside class 08, that a retry can outlive. */
const TRANSIENT_SQLSTATES = new Set([
  '57P01', '57P02', '57P03', '40001', '40P01', '55P03', '57014',
  // too_many_connections: the server refused a new session, which is the connection, not the statement.
  '53300',
]);

/** Classifies one error (anything thrown by postgres.js, a socket, or a deadline). */
export function classifyDbError(error: unknown): DbErrorClass {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string') return 'permanent';
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || TRANSIENT_SQLSTATES.has(code)) return 'transient';
  return 'permanent';
}

/** Shorthand for `classifyDbError(error) === 'transient'`. */
export function isTransientDbError(error: unknown): boolean {
  return classifyDbError(error) === 'transient';
}
