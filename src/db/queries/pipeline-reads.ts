/**
 * Read-only queries of the dashboard about pipelines and their runs: the filtered list, one
 * pipeline's runs, branches, steps, executions and context. Large text columns are cut in SQL
 * (`left(...)` plus the full length), so a 10 MB output never leaves the database for a page view.
 */
import type { DefinitionGraph, ToTransition } from '../../definition/graph.js';
import type { Queryable } from '../connect.js';
import { resultIsArray } from '../../definition/output-shape.js';
import { runOutput } from './runs.js';
import type { HaltReason } from './branches.js';
import type { PipelineStatus } from './pipelines.js';
import type { StepStatus } from './steps.js';

/** A stored JSON text cut to a preview: the first characters and the full length. */
export interface TextPreview {
  head: string | null;
  length: number;
}

/** Filters of the pipelines list; each is optional. */
export interface PipelineFilter {
  klass?: string | undefined;
  status?: PipelineStatus | undefined;
  /** Only pipelines created within this many seconds (database clock). */
  sinceSeconds?: number | undefined;
  /** Only pipelines created at or after this time. */
  from?: Date | undefined;
  /** Only pipelines created before this time. */
  to?: Date | undefined;
  /** Inclusive id range (an id prefix padded with 0s and fs), which the primary key serves. */
  idRange?: { from: string; to: string } | undefined;
}

export interface PipelineListRow {
  id: string;
  klass: string;
  status: PipelineStatus;
  created_at: Date;
  updated_at: Date;
}

/**
 * A page of pipelines, newest first. Served by pipelines_klass_created, pipelines_status_created,
 * pipelines_created (003) or the primary key (id range), whichever the filter makes cheapest.
 */
export function listPipelines(sql: Queryable, filter: PipelineFilter, page: { offset: number; limit: number }) {
  return sql<PipelineListRow[]>`
    select id, klass, status, created_at, updated_at from pipelines
    where true
      ${filter.klass === undefined ? sql`` : sql`and klass = ${filter.klass}`}
      ${filter.status === undefined ? sql`` : sql`and status = ${filter.status}`}
      ${filter.sinceSeconds === undefined ? sql`` : sql`and created_at >= clock_timestamp() - make_interval(secs => ${filter.sinceSeconds})`}
      ${filter.from === undefined ? sql`` : sql`and created_at >= ${filter.from}`}
      ${filter.to === undefined ? sql`` : sql`and created_at < ${filter.to}`}
      ${filter.idRange === undefined ? sql`` : sql`and id between ${filter.idRange.from} and ${filter.idRange.to}`}
    order by created_at desc, id desc
    limit ${page.limit} offset ${page.offset}`;
}

/** Distinct pipeline classes (at most 500), by a loose index scan over pipelines_klass_created. */
export async function pipelineClasses(sql: Queryable): Promise<string[]> {
  const rows = await sql`
    with recursive k as (
      (select klass from pipelines order by klass limit 1)
      union all
      select (select p.klass from pipelines p where p.klass > k.klass order by p.klass limit 1) from k where k.klass is not null
    )
    select klass from k where klass is not null limit 500`;
  return rows.map((r) => r.klass as string);
}

/** The pipeline an id belongs to, whether it is a pipeline, run, branch or step id (primary keys). */
export async function pipelineOfAnyId(sql: Queryable, id: string): Promise<string | undefined> {
  const [row] = await sql`
    select id as pipeline_id from pipelines where id = ${id}
    union all select pipeline_id from runs where id = ${id}
    union all select r.pipeline_id from branches b join runs r on r.id = b.run_id where b.id = ${id}
    union all select r.pipeline_id from steps s join runs r on r.id = s.run_id where s.id = ${id}
    union all select pipeline_id from jobs where step_id = ${id}
    limit 1`;
  return row?.pipeline_id as string | undefined;
}

export interface RunSummaryRow {
  id: string;
  status: PipelineStatus;
  definition_sha1: string;
  triggered_at: Date;
  started_at: Date;
  completed_at: Date | null;
  halted_at: Date | null;
}

/** The runs of a pipeline, newest first (runs_pipeline_started); the latest 100 unless paged. */
export function runsOfPipeline(sql: Queryable, pipelineId: string, page: { offset: number; limit: number } = { offset: 0, limit: 100 }) {
  return sql<RunSummaryRow[]>`
    select id, status, definition_sha1, triggered_at, started_at, completed_at, halted_at
    from runs where pipeline_id = ${pipelineId} order by started_at desc, id desc limit ${page.limit} offset ${page.offset}`;
}

export interface RunDetailRow extends RunSummaryRow {
  pipeline_id: string;
  definition: DefinitionGraph;
  output: TextPreview;
}

/** One run with its definition and a preview of its output (shaped by the definition: see `runOutput`). */
export async function runDetail(sql: Queryable, runId: string, previewChars: number): Promise<RunDetailRow | undefined> {
  const [row] = await sql`
    select r.id, r.pipeline_id, r.status, d.graph as definition, r.definition_sha1, r.triggered_at, r.started_at, r.completed_at, r.halted_at
    from runs r join definitions d on d.sha1 = r.definition_sha1 where r.id = ${runId}`;
  if (!row) return undefined;
  const run = row as Omit<RunDetailRow, 'output'>;
  if (run.status !== 'completed') return { ...run, output: { head: null, length: 0 } };
  const [preview] = resultIsArray(run.definition)
    ? await sql`
        select left(o, ${previewChars}) as head, length(o)::int as length from (
          select '[' || coalesce(string_agg(s.output, ',' order by frame_path(b.frames), b.started_at, b.id), '') || ']' as o
          from branches b join steps s on s.id = b.terminal_step_id where b.run_id = ${runId}) x`
    : await sql`
        select left(s.output, ${previewChars}) as head, coalesce(length(s.output), 0)::int as length
        from branches b join steps s on s.id = b.terminal_step_id where b.run_id = ${runId}
        order by b.started_at desc, b.id desc limit 1`;
  return { ...run, output: { head: (preview?.head as string | null) ?? null, length: (preview?.length as number) ?? 0 } };
}

export interface BranchViewRow {
  id: string;
  parent_branch_id: string | null;
  status: 'in_progress' | 'completed' | 'halted';
  halt_reason: HaltReason | null;
  halt_detail: string | null;
  started_at: Date;
  completed_at: Date | null;
  steps: number;
}

/** A page of a run's branches, halted ones first (branches_run; step counts from the run's steps, steps_run and jobs_run). */
export function branchesPage(sql: Queryable, runId: string, page: { offset: number; limit: number }) {
  return sql<BranchViewRow[]>`
    with page as (
      select b.id, b.parent_branch_id, b.status, b.halt_reason, b.halt_detail, b.started_at, b.completed_at
      from branches b where b.run_id = ${runId}
      order by (b.status = 'halted') desc, b.started_at, b.id
      limit ${page.limit} offset ${page.offset}
    ), counts as (
      select branch_id, count(*)::int as n from (
        select branch_id from steps where run_id = ${runId} union all select branch_id from jobs where run_id = ${runId} and kind = 'run'
      ) s where branch_id in (select id from page) group by branch_id
    )
    select page.*, coalesce(counts.n, 0) as steps from page left join counts on counts.branch_id = page.id
    order by (page.status = 'halted') desc, page.started_at, page.id`;
}

/** How many steps of a run sit at each node in each status: what colors the graph (steps_run). */
export async function stepStatusByNode(sql: Queryable, runId: string): Promise<Map<string, Partial<Record<StepStatus, number>>>> {
  const rows = await sql`select node, status, count(*)::int as n from step_view where run_id = ${runId} group by node, status`;
  const byNode = new Map<string, Partial<Record<StepStatus, number>>>();
  for (const row of rows) {
    const counts = byNode.get(row.node as string) ?? {};
    counts[row.status as StepStatus] = row.n as number;
    byNode.set(row.node as string, counts);
  }
  return byNode;
}

export interface StepViewRow {
  id: string;
  branch_id: string | null;
  node: string;
  klass: string;
  to_transition: ToTransition;
  status: StepStatus;
  input: TextPreview;
  output: TextPreview;
  idempotency_key: string;
  source_step_id: string | null;
  started_at: Date;
  finished_at: Date | null;
}

/** A page of a run's steps in creation order, optionally at one node or in one status (steps_run, jobs_run). */
export async function stepsPage(
  sql: Queryable,
  runId: string,
  filter: { node?: string | undefined; status?: StepStatus | undefined },
  page: { offset: number; limit: number },
  previewChars: number,
): Promise<StepViewRow[]> {
  const rows = await sql`
    select id, branch_id, node, klass, to_transition, status, idempotency_key, source_step_id, started_at, finished_at,
           left(input, ${previewChars}) as input_head, coalesce(length(input), 0)::int as input_length,
           left(output, ${previewChars}) as output_head, coalesce(length(output), 0)::int as output_length
    from step_view where run_id = ${runId}
      ${filter.node === undefined ? sql`` : sql`and node = ${filter.node}`}
      ${filter.status === undefined ? sql`` : sql`and status = ${filter.status}`}
    order by started_at, id
    limit ${page.limit} offset ${page.offset}`;
  return rows.map(({ input_head, input_length, output_head, output_length, ...rest }) => ({
    ...(rest as Omit<StepViewRow, 'input' | 'output'>),
    input: { head: input_head as string, length: input_length as number },
    output: { head: output_head as string | null, length: output_length as number },
  }));
}

export interface ExecutionViewRow {
  id: string;
  step_id: string;
  retry_count: number;
  crash_count: number;
  run_at: Date;
  claimed_at: Date | null;
  completed_at: Date | null;
  outcome: 'success' | 'failure' | 'crashed' | null;
  process_id: string | null;
  error_class: string | null;
  error_code: string | null;
  error_message: string | null;
  error_stack: string | null;
}

/**
 * Every attempt of the given steps, oldest first: those that failed or crashed (attempts_step), the
 * one that succeeded (the step's history row) and the one queued or running now (its job).
 * Messages and stacks cut to size.
 */
export function executionsOfSteps(sql: Queryable, stepIds: readonly string[]) {
  if (stepIds.length === 0) return Promise.resolve([] as ExecutionViewRow[]);
  return sql<ExecutionViewRow[]>`
    select * from (
      select 'a' || id::text as id, step_id, retry_count, crash_count, coalesce(started_at, finished_at) as run_at, started_at as claimed_at,
             finished_at as completed_at, outcome, process_id, error_class, error_code, left(error_message, 2000) as error_message,
             left(error_stack, 8000) as error_stack
      from attempts where step_id in ${sql(stepIds as string[])}
      union all
      select 's' || id::text, id, retry_count, crash_count, finished_at, null, finished_at, 'success', null, null, null, null, null
      from steps where id in ${sql(stepIds as string[])} and status = 'completed'
      union all
      select 'j' || id::text, step_id, retry_count, crash_count, run_at, claimed_at, null, null, process_id, null, null, null, null
      from jobs where kind = 'run' and step_id in ${sql(stepIds as string[])}
    ) x
    order by coalesce(completed_at, 'infinity'), run_at`;
}

export interface ContextViewRow {
  key: string;
  value: TextPreview;
  first_set_at: Date;
  last_set_at: Date;
}

/** A run's context values (at most 200 keys), by key (the tuples primary key). */
export async function contextOfRun(sql: Queryable, runId: string, previewChars: number): Promise<ContextViewRow[]> {
  const rows = await sql`
    select key, left(value, ${previewChars}) as value_head, length(value)::int as value_length, first_set_at, last_set_at
    from tuples where run_id = ${runId} order by key limit 200`;
  return rows.map((r) => ({
    key: r.key as string,
    value: { head: r.value_head as string, length: r.value_length as number },
    first_set_at: r.first_set_at as Date,
    last_set_at: r.last_set_at as Date,
  }));
}

/** The whole stored JSON text behind a preview (the raw JSON link), or undefined when absent. */
export async function rawJson(
  sql: Queryable,
  source: { kind: 'step_input' | 'step_output'; stepId: string } | { kind: 'run_output'; runId: string } | { kind: 'context'; runId: string; key: string },
): Promise<string | undefined> {
  let rows;
  switch (source.kind) {
    case 'step_input':
      rows = await sql`select input as text from step_view where id = ${source.stepId}`;
      break;
    case 'step_output':
      rows = await sql`select output as text from steps where id = ${source.stepId}`;
      break;
    case 'run_output': {
      const [run] = await sql`select r.status, d.graph from runs r join definitions d on d.sha1 = r.definition_sha1 where r.id = ${source.runId}`;
      if (run?.status !== 'completed') return undefined;
      return (await runOutput(sql, source.runId, resultIsArray(run.graph as DefinitionGraph))) ?? undefined;
    }
    case 'context':
      rows = await sql`select value as text from tuples where run_id = ${source.runId} and key = ${source.key}`;
      break;
  }
  return (rows[0]?.text as string | null | undefined) ?? undefined;
}
