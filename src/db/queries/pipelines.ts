import type { RetentionKeepTimes } from '../../config/retention.js';

export type { RetentionKeepTimes };
import { rowsJson, type Queryable, type Sql } from '../connect.js';

/** Pipeline (and run) statuses. */
export type PipelineStatus = 'in_progress' | 'completed' | 'halted' | 'cancelled';

export interface PipelineRow {
  id: string;
  klass: string;
  status: PipelineStatus;
  cancel_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Creates the durable identity of a triggered pipeline, with the `traceparent` of its trigger span
 * (null without tracing). With a key, writes nothing (count 0) when a pipeline of the class has
 * that key (pipelines_key).
 */
export function insertPipeline(sql: Queryable, id: string, klass: string, options: { key?: string | undefined; traceContext?: string | null } = {}) {
  const traceContext = options.traceContext ?? null;
  return options.key === undefined
    ? sql`insert into pipelines (id, klass, status, trace_context) values (${id}, ${klass}, 'in_progress', ${traceContext})`
    : sql`insert into pipelines (id, klass, status, key, trace_context) values (${id}, ${klass}, 'in_progress', ${options.key}, ${traceContext})
          on conflict (klass, key) where key is not null do nothing`;
}

/** The id of the pipeline of `klass` triggered with `key` (pipelines_key). */
export async function findKeyedPipeline(sql: Queryable, klass: string, key: string): Promise<string | undefined> {
  const [row] = await sql`select id from pipelines where klass = ${klass} and key = ${key}`;
  return row?.id as string | undefined;
}

export async function findPipeline(sql: Queryable, id: string): Promise<PipelineRow | undefined> {
  const [row] = await sql<PipelineRow[]>`select id, klass, status, cancel_reason, created_at, updated_at from pipelines where id = ${id}`;
  return row;
}

/** Locks a pipeline row for a revive (which must see its status and write a new run atomically). */
export async function lockPipeline(sql: Queryable, id: string): Promise<PipelineRow | undefined> {
  const [row] = await sql<PipelineRow[]>`select id, klass, status, cancel_reason, created_at, updated_at from pipelines where id = ${id} for update`;
  return row;
}

/** Sets a pipeline's status (revive puts a halted or cancelled pipeline back in progress). */
export function setPipelineStatus(sql: Queryable, id: string, status: PipelineStatus) {
  return sql`update pipelines set status = ${status}, updated_at = clock_timestamp() where id = ${id}`;
}


const RETENTION_LOCK = 'ductwork.retention.';

/**
 * One cleaner pass: deletes up to `limit` finished pipelines whose keep-time has passed (oldest
 * first; pipelines_finished), with everything of theirs (runs, branches, steps, attempts, context,
 * by ON DELETE CASCADE). Never a pipeline in progress, one being revived (its row is locked: SKIP
 * LOCKED), or one with a queued or claimed job (a halted pipeline's on_halt step). Passes of
 * several engines do not overlap: each takes a transaction-level advisory lock first, and returns
 * `busy` when another engine holds it. `dryRun` counts what would go (pipelines and steps) and deletes nothing.
 */
export async function deleteExpiredPipelines(
  sql: Sql,
  schema: string,
  keep: RetentionKeepTimes,
  limit: number,
  dryRun = false,
): Promise<{ deleted: number; steps: number } | 'busy'> {
  return sql.begin(async (tx) => {
    const [lock] = await tx`select pg_try_advisory_xact_lock(hashtextextended(${RETENTION_LOCK + schema}, 0)) as held`;
    if (!lock?.held) return 'busy' as const;
    const shortest = Math.min(...[keep.completed, keep.halted, ...keep.byPipeline.flatMap((k) => [k.completed, k.halted])].filter((s) => s > 0));
    if (!Number.isFinite(shortest)) return { deleted: 0, steps: 0 };
    const [row] = await tx`
      with kept as (
        select * from jsonb_to_recordset(${rowsJson(tx, keep.byPipeline)}) as t(pipeline text, completed float8, halted float8)
      ), expired as (
        select p.id from pipelines p left join kept k on k.pipeline = p.klass
        where p.status <> 'in_progress'
          and p.updated_at < clock_timestamp() - make_interval(secs => ${shortest})
          and (case when p.status = 'completed' then coalesce(k.completed, ${keep.completed}) else coalesce(k.halted, ${keep.halted}) end) > 0
          and p.updated_at < clock_timestamp() - make_interval(secs =>
                case when p.status = 'completed' then coalesce(k.completed, ${keep.completed}) else coalesce(k.halted, ${keep.halted}) end)
          -- a cancelled run's parked jobs go with it; any other queued or claimed job keeps the pipeline
          and not exists (select 1 from runs r join jobs j on j.run_id = r.id where r.pipeline_id = p.id
                          and not (p.status = 'cancelled' and j.run_at = 'infinity' and j.claimed_at is null))
        order by p.updated_at
        limit ${limit}
        for update of p skip locked
      ), counted as (
        select count(*)::int as steps from steps s join runs r on r.id = s.run_id where r.pipeline_id in (select id from expired) and ${dryRun}
      ), deleted as (
        delete from pipelines where id in (select id from expired) and not ${dryRun} returning id
      )
      select (select count(*) from expired)::int as candidates, (select count(*) from deleted)::int as deleted, (select steps from counted) as steps`;
    return { deleted: dryRun ? (row!.candidates as number) : (row!.deleted as number), steps: row!.steps as number };
  });
}

/** Ends a pipeline as cancelled, with the reason given. */
export function markPipelineCancelled(sql: Queryable, id: string, reason: string | null) {
  return sql`update pipelines set status = 'cancelled', cancel_reason = ${reason}, updated_at = clock_timestamp() where id = ${id}`;
}
