import type { ToTransition } from '../../definition/graph.js';
import { idList, rowsJson, type Queryable } from '../connect.js';

export type StepStatus = 'in_progress' | 'advancing' | 'failed' | 'completed';

/** A step to create together with its first execution (the queue entry). */
export interface NewStep {
  id: string;
  runId: string;
  /** null only for the synthetic on_halt step, which belongs to no branch. */
  branchId: string | null;
  pipelineKlass: string;
  node: string;
  klass: string;
  toTransition: ToTransition;
  /** JSON text. */
  input: string;
  idempotencyKey: string;
  /** The step this one re-runs (revive). */
  sourceStepId?: string;
}

/**
 * Creates steps and enqueues their first executions in one statement, eligible now by the
 * database clock. Arrays keep it one round trip for any width (an expand of 10k elements).
 */
export function enqueueSteps(sql: Queryable, steps: NewStep[]) {
  return sql`
    with created as (
      insert into steps (id, run_id, branch_id, pipeline_klass, node, klass, to_transition, status, input,
                         idempotency_key, source_step_id, started_at)
      select id, run_id, branch_id, pipeline_klass, node, klass, to_transition, 'in_progress', input,
             idempotency_key, source_step_id, clock_timestamp()
      from jsonb_to_recordset(${rowsJson(sql, steps.map((s) => ({
        id: s.id, run_id: s.runId, branch_id: s.branchId, pipeline_klass: s.pipelineKlass, node: s.node, klass: s.klass,
        to_transition: s.toTransition, input: s.input, idempotency_key: s.idempotencyKey, source_step_id: s.sourceStepId ?? null,
      })))})
        as t(id uuid, run_id uuid, branch_id uuid, pipeline_klass text, node text, klass text, to_transition text, input text,
             idempotency_key uuid, source_step_id uuid)
      returning id, pipeline_klass
    )
    insert into executions (step_id, pipeline_klass, run_at)
    select id, pipeline_klass, clock_timestamp() from created`;
}

/** Marks the steps the advancer moved branches off. A failed step keeps `failed` but leaves the queue. */
export function markStepsAdvanced(sql: Queryable, stepIds: string[]) {
  return sql`
    update steps set status = case when status = 'advancing' then 'completed' else status end,
                     completed_at = clock_timestamp(), updated_at = clock_timestamp()
    where id = any(${idList(stepIds)}::uuid[]) and completed_at is null`;
}

export interface StepRow {
  id: string;
  run_id: string;
  branch_id: string | null;
  node: string;
  klass: string;
  to_transition: ToTransition;
  status: StepStatus;
  input: string;
  output: string | null;
  idempotency_key: string;
  started_at: Date;
  finished_at: Date | null;
  completed_at: Date | null;
}

/** Every step of a run in creation order (status pages and tests). */
export function stepsOfRun(sql: Queryable, runId: string) {
  return sql<StepRow[]>`
    select id, run_id, branch_id, node, klass, to_transition, status, input, output, idempotency_key,
           started_at, finished_at, completed_at
    from steps where run_id = ${runId} order by started_at, id`;
}

/** A copied step (revive): kept as completed, or put back to `advancing` so the advancer re-routes it. */
export interface CopiedStep {
  id: string;
  branchId: string;
  sourceStepId: string;
  node: string;
  klass: string;
  toTransition: ToTransition;
  status: 'completed' | 'advancing';
  input: string;
  output: string | null;
  idempotencyKey: string;
}

/** Inserts copies of steps into a new run, keeping inputs, outputs and idempotency keys. */
export function copySteps(sql: Queryable, runId: string, pipelineKlass: string, steps: CopiedStep[]) {
  if (steps.length === 0) return Promise.resolve([]);
  return sql`
    insert into steps (id, run_id, branch_id, pipeline_klass, node, klass, to_transition, status, input, output,
                       idempotency_key, source_step_id, started_at, finished_at, completed_at)
    select id, ${runId}, branch_id, ${pipelineKlass}, node, klass, to_transition, status, input, output,
           idempotency_key, source_step_id, clock_timestamp(), clock_timestamp(),
           case when status = 'completed' then clock_timestamp() end
    from jsonb_to_recordset(${rowsJson(sql, steps.map((s) => ({
      id: s.id, branch_id: s.branchId, node: s.node, klass: s.klass, to_transition: s.toTransition, status: s.status,
      input: s.input, output: s.output, idempotency_key: s.idempotencyKey, source_step_id: s.sourceStepId,
    })))})
      as t(id uuid, branch_id uuid, node text, klass text, to_transition text, status text, input text, output text,
           idempotency_key uuid, source_step_id uuid)`;
}
