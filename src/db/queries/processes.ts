import type { Queryable } from '../connect.js';

/** Registers a live engine process, stamped with the database clock. */
export function insertProcess(sql: Queryable, process: { id: string; pid: number; host: string; role: string }) {
  return sql`
    insert into processes (id, pid, host, role, started_at, last_heartbeat_at)
    values (${process.id}, ${process.pid}, ${process.host}, ${process.role}, clock_timestamp(), clock_timestamp())
    on conflict (id) do update set last_heartbeat_at = clock_timestamp()`;
}

/** Refreshes the heartbeat; false when the row is gone (reaped while we were suspended). */
export async function heartbeat(sql: Queryable, processId: string): Promise<boolean> {
  const rows = await sql`update processes set last_heartbeat_at = clock_timestamp() where id = ${processId} returning 1`;
  return rows.length === 1;
}

/** Removes a process row on clean shutdown. */
export function deleteProcess(sql: Queryable, processId: string) {
  return sql`delete from processes where id = ${processId}`;
}
