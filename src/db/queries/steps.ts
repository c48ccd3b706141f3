import type { ToTransition } from '../../definition/graph.js';
import type { Queryable } from '../connect.js';

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
}

/**
 * Creates steps and enqueues their first executions in one statement, eligible now by the
 * database clock. Arrays keep it one round trip for any width (an expand of 10k elements).
 */
export function enqueueSteps(sql: Queryable, steps: NewStep[]) {
  return sql`
    with created as (
      insert into steps (id, run_id, branch_id, pipeline_klass, node, klass, to_transition, status, input,
                         idempotency_key, started_at)
      select id, run_id, branch_id, pipeline_klass, node, klass, to_transition, 'in_progress', input,
             idempotency_key, clock_timestamp()
      from unnest(${sql.array(steps.map((s) => s.id))}::uuid[],
                  ${sql.array(steps.map((s) => s.runId))}::uuid[],
                  ${sql.array(steps.map((s) => s.branchId) as string[])}::uuid[],
                  ${sql.array(steps.map((s) => s.pipelineKlass))}::text[],
                  ${sql.array(steps.map((s) => s.node))}::text[],
                  ${sql.array(steps.map((s) => s.klass))}::text[],
                  ${sql.array(steps.map((s) => s.toTransition))}::text[],
                  ${sql.array(steps.map((s) => s.input))}::text[],
                  ${sql.array(steps.map((s) => s.idempotencyKey))}::uuid[])
        as t(id, run_id, branch_id, pipeline_klass, node, klass, to_transition, input, idempotency_key)
      returning id, pipeline_klass
    )
    insert into executions (step_id, pipeline_klass, run_at)
    select id, pipeline_klass, clock_timestamp() from created`;
}

/** Marks the step the advancer moved a branch off. A failed step keeps `failed` but leaves the queue. */
export function markStepAdvanced(sql: Queryable, stepId: string) {
  return sql`
    update steps set status = case when status = 'advancing' then 'completed' else status end,
                     completed_at = clock_timestamp(), updated_at = clock_timestamp()
    where id = ${stepId} and completed_at is null`;
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
