import type { Queryable } from '../connect.js';

/** A registered engine process. */
export interface ProcessRow {
  id: string;
  pid: number;
  host: string;
  role: string;
  lock_key: string;
}

/** Registers (or re-registers) a live engine process, stamped with the database clock. */
export function insertProcess(sql: Queryable, process: { id: string; pid: number; host: string; role: string; lockKey: string; threads: number }) {
  return sql`
    insert into processes (id, pid, host, role, lock_key, threads, started_at, last_heartbeat_at)
    values (${process.id}, ${process.pid}, ${process.host}, ${process.role}, ${process.lockKey}, ${process.threads}, clock_timestamp(), clock_timestamp())
    on conflict (id) do update set last_heartbeat_at = clock_timestamp()`;
}

/** Refreshes the heartbeat; false when the row is gone (reaped while we were unreachable). */
export async function heartbeat(sql: Queryable, processId: string): Promise<boolean> {
  const rows = await sql`update processes set last_heartbeat_at = clock_timestamp() where id = ${processId} returning 1`;
  return rows.length === 1;
}

/** Removes a process row on clean shutdown. */
export function deleteProcess(sql: Queryable, processId: string) {
  return sql`delete from processes where id = ${processId}`;
}

/**
 * Holds this session's advisory lock on `lockKey`: takes it unless this session already holds
 * one (the lock connection holds nothing else), so repeated calls never stack lock counts.
 */
export async function holdProcessLock(sql: Queryable, lockKey: string): Promise<boolean> {
  const [row] = await sql`
    select case when exists (select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and granted)
                then true else pg_try_advisory_lock(${lockKey}::bigint) end as held`;
  return Boolean(row?.held);
}

/** A process that may be dead: quiet for longer than the grace period (database clock). */
export interface ReapCandidate extends ProcessRow {
  /** Quiet for longer than the reaper timeout: dead even if its lock looks held (a vanished host). */
  stale: boolean;
}

/** Other processes whose heartbeat is older than `graceSeconds`. Never includes `self`. */
export function reapCandidates(sql: Queryable, self: string, graceSeconds: number, reaperTimeoutSeconds: number) {
  return sql<ReapCandidate[]>`
    select id, pid, host, role, lock_key::text as lock_key,
           last_heartbeat_at < clock_timestamp() - make_interval(secs => ${reaperTimeoutSeconds}) as stale
    from processes
    where id <> ${self} and last_heartbeat_at < clock_timestamp() - make_interval(secs => ${graceSeconds})`;
}

/**
 * Inside the reaping transaction: locks the process row (skipping it if another reaper has it)
 * and tells whether its owner is dead: its advisory lock is free (taken here for the rest of the
 * transaction), or it is stale. Undefined when the row is gone or being reaped elsewhere.
 */
export async function lockDeadProcess(sql: Queryable, candidate: ReapCandidate): Promise<boolean | undefined> {
  const [row] = await sql`select id from processes where id = ${candidate.id} for update skip locked`;
  if (!row) return undefined;
  if (candidate.stale) return true;
  const [lock] = await sql`select pg_try_advisory_xact_lock(${candidate.lock_key}::bigint) as free`;
  return Boolean(lock?.free);
}
