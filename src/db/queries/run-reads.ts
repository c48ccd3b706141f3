/**
 * Reads of the client's read API about one run: its steps whole (input and output as stored, for
 * a program to use; the dashboard reads previews instead, see pipeline-reads.ts).
 */
import type { Queryable } from '../connect.js';
import type { StepRow, StepStatus } from './steps.js';

/** A step with its whole input (resolved) and output. */
export type FullStepRow = Omit<StepRow, 'run_id' | 'input_ref' | 'input_idx'>;

/** A page of a run's steps in creation order, optionally of one branch, node or status (steps_run, jobs_run). */
export function fullStepsPage(
  sql: Queryable,
  runId: string,
  filter: { node?: string | undefined; status?: StepStatus | undefined; branchId?: string | undefined },
  page: { offset: number; limit: number },
) {
  return sql<FullStepRow[]>`
    select id, branch_id, node, klass, to_transition, status, input, output, idempotency_key, source_step_id, retry_count, crash_count,
           started_at, finished_at
    from step_view where run_id = ${runId}
      ${filter.node === undefined ? sql`` : sql`and node = ${filter.node}`}
      ${filter.status === undefined ? sql`` : sql`and status = ${filter.status}`}
      ${filter.branchId === undefined ? sql`` : sql`and branch_id = ${filter.branchId}`}
    order by started_at, id
    limit ${page.limit} offset ${page.offset}`;
}
