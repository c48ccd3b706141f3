import type { DefinitionGraph } from '../../definition/graph.js';
import { idList, type Queryable } from '../connect.js';
import type { PipelineStatus } from './pipelines.js';

export interface RunRow {
  id: string;
  pipeline_id: string;
  pipeline_klass: string;
  status: PipelineStatus;
  output: string | null;
  definition_sha1: string;
  triggered_at: Date;
  started_at: Date;
  completed_at: Date | null;
  halted_at: Date | null;
}

/** Creates an in-progress run with its frozen definition, stamped with the database clock. */
export function insertRun(sql: Queryable, run: { id: string; pipelineId: string; klass: string; graph: DefinitionGraph; sha1: string }) {
  return sql`
    insert into runs (id, pipeline_id, pipeline_klass, definition, definition_sha1, status, triggered_at, started_at)
    values (${run.id}, ${run.pipelineId}, ${run.klass}, ${sql.json(run.graph as never)}, ${run.sha1}, 'in_progress',
            clock_timestamp(), clock_timestamp())`;
}

/** The frozen definition of a run (the advancer caches it by sha1). */
export async function runDefinition(sql: Queryable, runId: string): Promise<DefinitionGraph | undefined> {
  const [row] = await sql`select definition from runs where id = ${runId}`;
  return row?.definition as DefinitionGraph | undefined;
}

/** The most recent run of a pipeline. */
export async function latestRun(sql: Queryable, pipelineId: string): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`
    select id, pipeline_id, pipeline_klass, status, output, definition_sha1, triggered_at, started_at, completed_at, halted_at
    from runs where pipeline_id = ${pipelineId} order by started_at desc, id desc limit 1`;
  return row;
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
 * Resolves each given in-progress run that has no open branch left: halted if any branch halted,
 * else completed with the output of its terminal step(s). Updates the pipelines in the same
 * statement. Call with the runs locked ({@link lockRuns}), so the open-branch check reads after
 * every concurrent move of those runs. Returns the runs resolved here and their new status.
 */
export async function resolveRuns(sql: Queryable, runIds: string[]): Promise<{ id: string; status: PipelineStatus }[]> {
  return sql<{ id: string; status: PipelineStatus }[]>`
    with target as (
      select r.id, exists (select 1 from branches b where b.run_id = r.id and b.status = 'halted') as halted
      from runs r
      where r.id = any(${idList(runIds)}::uuid[])
        and r.status = 'in_progress'
        and not exists (select 1 from branches b where b.run_id = r.id and b.status = 'in_progress')
    ), final as (
      select b.run_id,
             case when count(*) = 1 then min(s.output)
                  else '[' || string_agg(s.output, ',' order by b.started_at, b.id) || ']' end as output
      from branches b join steps s on s.id = b.terminal_step_id
      where b.run_id in (select id from target where not halted)
      group by b.run_id
    ), resolved as (
      update runs set
        status = case when target.halted then 'halted' else 'completed' end,
        output = case when target.halted then null else final.output end,
        completed_at = case when target.halted then null else clock_timestamp() end,
        halted_at = case when target.halted then clock_timestamp() end,
        updated_at = clock_timestamp()
      from target left join final on final.run_id = target.id
      where runs.id = target.id and runs.status = 'in_progress'
      returning runs.id, runs.status, runs.pipeline_id
    )
    update pipelines set status = resolved.status, updated_at = clock_timestamp()
    from resolved where pipelines.id = resolved.pipeline_id
    returning resolved.id, resolved.status`;
}

/** A new in-progress run of a pipeline that reuses a previous run's frozen definition (revive). */
export function insertRunFrom(sql: Queryable, run: { id: string; previousRunId: string }) {
  return sql`
    insert into runs (id, pipeline_id, pipeline_klass, definition, definition_sha1, status, triggered_at, started_at)
    select ${run.id}, pipeline_id, pipeline_klass, definition, definition_sha1, 'in_progress', clock_timestamp(), clock_timestamp()
    from runs where id = ${run.previousRunId}`;
}
