import { idList, type Queryable } from '../connect.js';
import type { PipelineStatus } from './pipelines.js';

export interface RunRow {
  id: string;
  pipeline_id: string;
  pipeline_klass: string;
  status: PipelineStatus;
  definition_sha1: string;
  triggered_at: Date;
  started_at: Date;
  completed_at: Date | null;
  halted_at: Date | null;
}

/** Creates an in-progress run of a stored definition, stamped with the database clock. */
export function insertRun(sql: Queryable, run: { id: string; pipelineId: string; klass: string; sha1: string }) {
  return sql`
    insert into runs (id, pipeline_id, pipeline_klass, definition_sha1, status, triggered_at, started_at)
    values (${run.id}, ${run.pipelineId}, ${run.klass}, ${run.sha1}, 'in_progress', clock_timestamp(), clock_timestamp())`;
}

/** The most recent run of a pipeline. */
export async function latestRun(sql: Queryable, pipelineId: string): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`
    select id, pipeline_id, pipeline_klass, status, definition_sha1, triggered_at, started_at, completed_at, halted_at
    from runs where pipeline_id = ${pipelineId} order by started_at desc, id desc limit 1`;
  return row;
}

/**
 * A completed run's output, read from its branches' final steps: the one terminal step's output,
 * or, when the definition leaves a fan-out open (`many`), the array of every terminal output in
 * branch order (outer fan-out index first), an array whatever the count.
 */
export async function runOutput(sql: Queryable, runId: string, many: boolean): Promise<string | null> {
  const [row] = many
    ? await sql`
        select '[' || coalesce(string_agg(s.output, ',' order by frame_path(b.frames), b.started_at, b.id), '') || ']' as output
        from branches b join steps s on s.id = b.terminal_step_id where b.run_id = ${runId}`
    : await sql`
        select s.output from branches b join steps s on s.id = b.terminal_step_id where b.run_id = ${runId}
        order by b.started_at desc, b.id desc limit 1`;
  return (row?.output as string | null | undefined) ?? null;
}

/**
 * Locks run rows for terminal resolution and fan-in arrivals, in id order so that advancers
 * locking overlapping sets cannot deadlock (the sort runs below the row locking). NO KEY UPDATE:
 * rows inserted by concurrent transitions take KEY SHARE on the run through their foreign keys,
 * which this does not block. What is read after the lock must be read by a later statement.
 */
export function lockRuns(sql: Queryable, runIds: string[]) {
  return sql`
    select id from runs where id = any(${idList(runIds)}::uuid[])
    order by id for no key update`;
}

/**
 * Resolves each given in-progress run that has no open branch and no queued step left (an
 * on_halt step is not a branch): halted if any branch halted, else completed. Updates the
 * pipelines in the same statement. Call with the runs locked ({@link lockRuns}), so the open-branch
 * check reads after every concurrent move of those runs. Returns the runs resolved here.
 */
export async function resolveRuns(sql: Queryable, runIds: string[]): Promise<{ id: string; status: PipelineStatus; pipeline_id: string }[]> {
  return sql<{ id: string; status: PipelineStatus; pipeline_id: string }[]>`
    with target as (
      select r.id, exists (select 1 from branches b where b.run_id = r.id and b.status = 'halted') as halted
      from runs r
      where r.id = any(${idList(runIds)}::uuid[])
        and r.status = 'in_progress'
        and not exists (select 1 from branches b where b.run_id = r.id and b.status = 'in_progress')
    ), resolved as (
      update runs set
        status = case when target.halted then 'halted' else 'completed' end,
        completed_at = case when target.halted then null else clock_timestamp() end,
        halted_at = case when target.halted then clock_timestamp() end,
        updated_at = clock_timestamp()
      from target
      where runs.id = target.id and runs.status = 'in_progress'
      returning runs.id, runs.status, runs.pipeline_id
    )
    update pipelines set status = resolved.status, updated_at = clock_timestamp()
    from resolved where pipelines.id = resolved.pipeline_id
    returning resolved.id, resolved.status, resolved.pipeline_id`;
}

/** A new in-progress run of a pipeline that reuses a previous run's definition (revive). */
export function insertRunFrom(sql: Queryable, run: { id: string; previousRunId: string }) {
  return sql`
    insert into runs (id, pipeline_id, pipeline_klass, definition_sha1, status, triggered_at, started_at)
    select ${run.id}, pipeline_id, pipeline_klass, definition_sha1, 'in_progress', clock_timestamp(), clock_timestamp()
    from runs where id = ${run.previousRunId}`;
}

/** Ends an in-progress run as cancelled (halted_at records when). */
export function markRunCancelled(sql: Queryable, runId: string) {
  return sql`update runs set status = 'cancelled', halted_at = clock_timestamp(), updated_at = clock_timestamp()
             where id = ${runId} and status = 'in_progress'`;
}

/** A revive of a cancelled run: it is in progress again. */
export function markRunResumed(sql: Queryable, runId: string) {
  return sql`update runs set status = 'in_progress', halted_at = null, updated_at = clock_timestamp() where id = ${runId}`;
}

/** The on_halt step class of a run's definition, if it has one. */
export async function haltHandlerOf(sql: Queryable, runId: string): Promise<{ klass: string; sha1: string } | undefined> {
  const [row] = await sql`
    select d.graph -> 'metadata' -> 'on_halt' ->> 'klass' as klass, d.sha1
    from runs r join definitions d on d.sha1 = r.definition_sha1 where r.id = ${runId}`;
  return row?.klass ? { klass: row.klass as string, sha1: row.sha1 as string } : undefined;
}
