/**
 * `steps`: append-only history, one row per finished step, written by the commit that finished it
 * (see jobs.ts). Reads of a run's steps use `step_view`, which adds the steps still queued or running
 * (their jobs) and resolves inputs stored by reference.
 */
import type { ToTransition } from '../../definition/graph.js';
import { rowsJson, type Queryable } from '../connect.js';

/** A step's status as reads show it: queued or running, finished and awaiting routing, or done. */
export type StepStatus = 'in_progress' | 'advancing' | 'failed' | 'completed';

export interface StepRow {
  id: string;
  run_id: string;
  branch_id: string | null;
  node: string;
  klass: string;
  to_transition: ToTransition;
  status: StepStatus;
  /** JSON text, resolved. */
  input: string;
  input_ref: string | null;
  input_idx: number | null;
  output: string | null;
  idempotency_key: string;
  source_step_id: string | null;
  retry_count: number;
  crash_count: number;
  started_at: Date;
  finished_at: Date | null;
}

/** Every step of a run (finished, queued or running) in creation order (steps_run, jobs_run). */
export function stepsOfRun(sql: Queryable, runId: string) {
  return sql<StepRow[]>`
    select id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, output, idempotency_key,
           source_step_id, retry_count, crash_count, started_at, finished_at
    from step_view where run_id = ${runId} order by started_at, id`;
}

/** A finished step copied into a revived run, keeping its input (or where it came from), output and idempotency key. */
export interface CopiedStep {
  id: string;
  branchId: string;
  sourceStepId: string;
  node: string;
  klass: string;
  toTransition: ToTransition;
  status: 'completed' | 'failed';
  input: string | null;
  inputRef: string | null;
  inputIdx: number | null;
  output: string | null;
  idempotencyKey: string;
  retryCount: number;
  crashCount: number;
}

/** Inserts copies of finished steps into a new run (revive). */
export function copySteps(sql: Queryable, runId: string, steps: CopiedStep[]) {
  if (steps.length === 0) return Promise.resolve([]);
  return sql`
    insert into steps (id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, output,
                       idempotency_key, source_step_id, retry_count, crash_count, started_at, finished_at)
    select id, ${runId}, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, output,
           idempotency_key, source_step_id, retry_count, crash_count, clock_timestamp(), clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, steps.map((s) => ({
      id: s.id, branch_id: s.branchId, node: s.node, klass: s.klass, to_transition: s.toTransition, status: s.status,
      input: s.inputRef === null ? s.input : null, input_ref: s.inputRef, input_idx: s.inputIdx, output: s.output,
      idempotency_key: s.idempotencyKey, source_step_id: s.sourceStepId, retry_count: s.retryCount, crash_count: s.crashCount,
    })))})
      as t(id uuid, branch_id uuid, node text, klass text, to_transition text, status text, input text, input_ref uuid, input_idx int,
           output text, idempotency_key uuid, source_step_id uuid, retry_count int, crash_count int)`;
}

/** The outputs of some finished steps (divert routing reads only those it routes on). */
export async function stepOutputs(sql: Queryable, stepIds: string[]): Promise<Map<string, string | null>> {
  if (stepIds.length === 0) return new Map();
  const rows = await sql`select id, output from steps where id in ${sql(stepIds)}`;
  return new Map(rows.map((r) => [r.id as string, r.output as string | null]));
}

/**
 * What an expand would fan out into, read in SQL so the array never reaches Node: the JSON type of
 * each step's output and, for an array, its length.
 */
export async function expandShapes(sql: Queryable, stepIds: string[]): Promise<Map<string, { type: string; length: number | null }>> {
  if (stepIds.length === 0) return new Map();
  const rows = await sql`
    select id, jsonb_typeof(o) as type, case when jsonb_typeof(o) = 'array' then jsonb_array_length(o) end as length
    from (select id, output::jsonb as o from steps where id in ${sql(stepIds)}) x`;
  return new Map(rows.map((r) => [r.id as string, { type: r.type as string, length: r.length === null ? null : Number(r.length) }]));
}
