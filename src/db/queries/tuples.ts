import type { Queryable } from '../connect.js';

/** The JSON text stored under `key` for a run, or undefined. */
export async function getTuple(sql: Queryable, runId: string, key: string): Promise<string | undefined> {
  const [row] = await sql`select value from tuples where run_id = ${runId} and key = ${key}`;
  return row?.value as string | undefined;
}

/** The claim a context write is made under: only the attempt that holds it may write. */
export interface ContextWriter {
  jobId: string;
  claimToken: string;
  stepId: string;
  /** Stable across retries, crash re-runs and revive: a re-run may set its own keys again. */
  idempotencyKey: string;
}

/**
 * Stores `value` (JSON text) under `key`, fenced by the writer's claim: `lost` when the attempt no
 * longer holds its claim (a zombie), `exists` when the key is set and `overwrite` is off, else
 * `stored`. An attempt may replace what an earlier attempt of the same step set (a retry or re-run
 * repeats its own writes), but sets a key once itself.
 */
export async function setTuple(
  sql: Queryable,
  runId: string,
  key: string,
  value: string,
  overwrite: boolean,
  writer: ContextWriter,
): Promise<'stored' | 'exists' | 'lost'> {
  const [row] = await sql`
    with fence as (
      select 1 from jobs
      where id = ${writer.jobId} and claim_token = ${writer.claimToken} and step_id = ${writer.stepId} and kind = 'run'
    ), written as (
      insert into tuples (run_id, key, value, set_by, set_token)
      select ${runId}, ${key}, ${value}, ${writer.idempotencyKey}, ${writer.claimToken} from fence
      on conflict (run_id, key) do update
        set value = excluded.value, last_set_at = clock_timestamp(), set_by = excluded.set_by, set_token = excluded.set_token
        where ${overwrite} or (tuples.set_by = excluded.set_by and tuples.set_token is distinct from excluded.set_token)
      returning 1
    )
    select exists (select 1 from fence) as fenced, exists (select 1 from written) as stored`;
  if (!row?.fenced) return 'lost';
  return row.stored ? 'stored' : 'exists';
}

/** Copies a run's context into another run (revive). */
export function copyTuples(sql: Queryable, fromRunId: string, toRunId: string) {
  return sql`
    insert into tuples (run_id, key, value, first_set_at, last_set_at, set_by, set_token)
    select ${toRunId}, key, value, first_set_at, last_set_at, set_by, set_token from tuples where run_id = ${fromRunId}`;
}
