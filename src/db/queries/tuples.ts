import type { Queryable } from '../connect.js';

/** The JSON text stored under `key` for a run, or undefined. */
export async function getTuple(sql: Queryable, runId: string, key: string): Promise<string | undefined> {
  const [row] = await sql`select value from tuples where run_id = ${runId} and key = ${key}`;
  return row?.value as string | undefined;
}

/**
 * Stores `value` (JSON text) under `key`. Without `overwrite` an existing key is left alone and
 * false is returned; with it the value is replaced (first_set_at is kept).
 */
export async function setTuple(sql: Queryable, runId: string, key: string, value: string, overwrite: boolean): Promise<boolean> {
  const rows = overwrite
    ? await sql`
        insert into tuples (run_id, key, value) values (${runId}, ${key}, ${value})
        on conflict (run_id, key) do update set value = excluded.value, last_set_at = clock_timestamp()
        returning 1`
    : await sql`
        insert into tuples (run_id, key, value) values (${runId}, ${key}, ${value})
        on conflict (run_id, key) do nothing
        returning 1`;
  return rows.length === 1;
}

/** Copies a run's context into another run (revive). */
export function copyTuples(sql: Queryable, fromRunId: string, toRunId: string) {
  return sql`
    insert into tuples (run_id, key, value, first_set_at, last_set_at)
    select ${toRunId}, key, value, first_set_at, last_set_at from tuples where run_id = ${fromRunId}`;
}
