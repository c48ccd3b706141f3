import type { DefinitionGraph } from '../../definition/graph.js';
import type { Queryable } from '../connect.js';
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
 * Locks the run row for terminal resolution. NO KEY UPDATE: rows inserted by concurrent
 * transitions take KEY SHARE on the run through their foreign keys, which this does not block.
 * The open-branch check must be a separate statement so it reads after the lock is granted.
 */
export async function lockRunForResolution(sql: Queryable, runId: string): Promise<{ status: PipelineStatus } | undefined> {
  const [row] = await sql<{ status: PipelineStatus }[]>`select status from runs where id = ${runId} for no key update`;
  return row;
}

/**
 * Resolves an in-progress run whose branches are all terminal: halted if any branch halted,
 * else completed with the output of its terminal step(s). Updates the pipeline in the same statement.
 * Returns the new status, or undefined when the run was already terminal.
 */
export async function resolveRun(sql: Queryable, runId: string): Promise<PipelineStatus | undefined> {
  const [row] = await sql<{ status: PipelineStatus }[]>`
    with verdict as (
      select exists (select 1 from branches where run_id = ${runId} and status = 'halted') as halted
    ), final as (
      select case when count(*) = 1 then min(s.output)
                  else '[' || string_agg(s.output, ',' order by b.started_at, b.id) || ']' end as output
      from branches b join steps s on s.id = b.terminal_step_id
      where b.run_id = ${runId}
    ), resolved as (
      update runs set
        status = case when verdict.halted then 'halted' else 'completed' end,
        output = case when verdict.halted then null else (select output from final) end,
        completed_at = case when verdict.halted then null else clock_timestamp() end,
        halted_at = case when verdict.halted then clock_timestamp() end,
        updated_at = clock_timestamp()
      from verdict
      where runs.id = ${runId} and runs.status = 'in_progress'
      returning runs.status, runs.pipeline_id
    )
    update pipelines set status = resolved.status, updated_at = clock_timestamp()
    from resolved where pipelines.id = resolved.pipeline_id
    returning resolved.status`;
  return row?.status;
}

/** A new in-progress run of a pipeline that reuses a previous run's frozen definition (revive). */
export function insertRunFrom(sql: Queryable, run: { id: string; previousRunId: string }) {
  return sql`
    insert into runs (id, pipeline_id, pipeline_klass, definition, definition_sha1, status, triggered_at, started_at)
    select ${run.id}, pipeline_id, pipeline_klass, definition, definition_sha1, 'in_progress', clock_timestamp(), clock_timestamp()
    from runs where id = ${run.previousRunId}`;
}
