/**
 * Fan-outs (a divide or an expand) and their fan-ins. A member branch records its fan-out and index
 * and, when it arrives, the step whose output it brings; the fan-out row counts arrivals under its
 * row lock, so exactly one transaction sees the count complete and fires the fan-in. Member inputs
 * and fan-in inputs are built in SQL from the stored outputs: a 100k-element array never passes
 * through Node.
 */
import { idList, rowsJson, type Queryable } from '../connect.js';
import type { FanFrame } from './branches.js';

/** A divide or expand to open. */
export interface NewFanout {
  id: string;
  runId: string;
  branchId: string;
  kind: 'divide' | 'expand';
  width: number;
  frames: FanFrame[];
}

/** Opens many fan-outs in one statement. */
export function insertFanouts(sql: Queryable, fanouts: NewFanout[]) {
  return sql`
    insert into fanouts (id, run_id, branch_id, kind, width, frames)
    select id, run_id, branch_id, kind, width, frames
    from jsonb_to_recordset(${rowsJson(sql, fanouts.map((f) => ({ id: f.id, run_id: f.runId, branch_id: f.branchId, kind: f.kind, width: f.width, frames: f.frames })))})
      as t(id uuid, run_id uuid, branch_id uuid, kind text, width int, frames jsonb)`;
}

/** An expand to carry out: one member branch and run job per element of `stepId`'s output. */
export interface ExpandMembers {
  fanoutId: string;
  stepId: string;
  runId: string;
  pipelineId: string;
  pipelineKlass: string;
  definitionSha1: string;
  parentBranchId: string;
  frames: FanFrame[];
  node: string;
  klass: string;
}

/**
 * Creates an expand's member branches and their first steps' jobs in one statement, in element
 * order, each job's input an element of the output (parsed once, in the database). Ids are made by
 * the schema's uuidv7(). Returns how many members it created.
 */
export async function insertExpandMembers(sql: Queryable, expand: ExpandMembers): Promise<number> {
  const [row] = await sql`
    with src as materialized (
      select output::jsonb as arr from steps where id = ${expand.stepId}
    ), elems as materialized (
      select uuidv7() as branch_id, uuidv7() as step_id, (e.n - 1)::int as idx, e.v::text as input
      from src, jsonb_array_elements(src.arr) with ordinality as e(v, n)
    ), members as (
      insert into branches (id, run_id, pipeline_klass, parent_branch_id, frames, fanout_id, fanout_idx, status, started_at, last_advanced_at)
      select branch_id, ${expand.runId}, ${expand.pipelineKlass}, ${expand.parentBranchId},
             ${sql.json(expand.frames as never)}::jsonb || jsonb_build_array(jsonb_build_object('f', ${expand.fanoutId}::text, 'i', idx)),
             ${expand.fanoutId}, idx, 'in_progress', clock_timestamp(), clock_timestamp()
      from elems
    ), queued as (
      insert into jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
                        input, input_ref, input_idx, idempotency_key, run_at)
      select 'run', ${expand.pipelineKlass}, ${expand.pipelineId}, ${expand.runId}, branch_id, ${expand.definitionSha1}, step_id,
             ${expand.node}, ${expand.klass}, 'expand', input, ${expand.stepId}, idx, step_id, clock_timestamp()
      from elems order by idx
    )
    select count(*)::int as n from elems`;
  return row!.n as number;
}

/** A fan-out's counter after a batch of arrivals: the batch that makes `arrived = width` fires the fan-in. */
export interface ArrivalCount {
  id: string;
  arrived: number;
  width: number;
  frames: FanFrame[];
  branch_id: string;
}

/**
 * Counts arrivals per fan-out in one statement (the member branches were completed with their
 * arrival step in the same transaction, once each). The UPDATE takes each fan-out's row lock, so
 * concurrent arrivals serialize and exactly one transaction sees the full count. Callers hold the
 * runs' locks first (run, then fan-out), so batches that touch several fan-outs cannot deadlock.
 */
export function countArrivals(sql: Queryable, arrivals: { fanoutId: string; count: number }[]) {
  return sql<ArrivalCount[]>`
    update fanouts f set arrived = f.arrived + t.n
    from jsonb_to_recordset(${rowsJson(sql, arrivals.map((a) => ({ id: a.fanoutId, n: a.count })))}) as t(id uuid, n int)
    where f.id = t.id and f.id = any(${idList(arrivals.map((a) => a.fanoutId))}::uuid[])
    returning f.id, f.arrived, f.width, f.frames, f.branch_id`;
}

/** A fan-in that fired: its new branch and the job of its step, whose input gathers the members' outputs. */
export interface FiredFanIn {
  fanoutId: string;
  branchId: string;
  stepId: string;
  runId: string;
  pipelineId: string;
  pipelineKlass: string;
  definitionSha1: string;
  node: string;
  klass: string;
  via: 'combine' | 'collapse';
}

/**
 * Enqueues fired fan-ins' steps: each input is every member's arrival output as one JSON array in
 * index order (declaration order for a divide, element order for an expand), built in SQL
 * (branches_fanout). Their history refers to the fan-out instead of storing the array again.
 */
export function insertFanInJobs(sql: Queryable, fired: FiredFanIn[]) {
  return sql`
    insert into jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
                      input, input_ref, idempotency_key, run_at)
    select 'run', t.pipeline_klass, t.pipeline_id, t.run_id, t.branch_id, t.definition_sha1, t.step_id, t.node, t.klass, t.via,
           (select '[' || coalesce(string_agg(o.output, ',' order by b.fanout_idx), '') || ']'
            from branches b join steps o on o.id = b.arrival_step_id where b.fanout_id = t.fanout_id),
           t.fanout_id, t.step_id, clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, fired.map((f) => ({
      fanout_id: f.fanoutId, branch_id: f.branchId, step_id: f.stepId, run_id: f.runId, pipeline_id: f.pipelineId, pipeline_klass: f.pipelineKlass,
      definition_sha1: f.definitionSha1, node: f.node, klass: f.klass, via: f.via,
    })))})
      as t(fanout_id uuid, branch_id uuid, step_id uuid, run_id uuid, pipeline_id uuid, pipeline_klass text, definition_sha1 text,
           node text, klass text, via text)`;
}

/** Remembers which branch each fan-in created (for status pages). */
export function markFanoutsFired(sql: Queryable, fired: { fanoutId: string; branchId: string }[]) {
  return sql`
    update fanouts f set fired_branch_id = t.branch_id
    from jsonb_to_recordset(${rowsJson(sql, fired.map((x) => ({ id: x.fanoutId, branch_id: x.branchId })))}) as t(id uuid, branch_id uuid)
    where f.id = t.id and f.id = any(${idList(fired.map((x) => x.fanoutId))}::uuid[])`;
}

/** A fan-out as revive reads and copies it. */
export interface FanoutRow {
  id: string;
  branch_id: string;
  kind: 'divide' | 'expand';
  width: number;
  arrived: number;
  frames: FanFrame[];
  fired_branch_id: string | null;
}

export function fanoutsOfRun(sql: Queryable, runId: string) {
  return sql<FanoutRow[]>`select id, branch_id, kind, width, arrived, frames, fired_branch_id from fanouts where run_id = ${runId}`;
}

/** Copies fan-outs into a new run (revive); their members' arrivals travel with the copied branches. */
export async function copyFanouts(
  sql: Queryable,
  runId: string,
  fanouts: { id: string; branchId: string; kind: string; width: number; arrived: number; frames: FanFrame[]; firedBranchId: string | null }[],
): Promise<void> {
  if (fanouts.length === 0) return;
  await sql`
    insert into fanouts (id, run_id, branch_id, kind, width, arrived, frames, fired_branch_id)
    select id, ${runId}, branch_id, kind, width, arrived, frames, fired_branch_id
    from jsonb_to_recordset(${rowsJson(sql, fanouts.map((f) => ({
      id: f.id, branch_id: f.branchId, kind: f.kind, width: f.width, arrived: f.arrived, frames: f.frames, fired_branch_id: f.firedBranchId,
    })))})
      as t(id uuid, branch_id uuid, kind text, width int, arrived int, frames jsonb, fired_branch_id uuid)`;
}
