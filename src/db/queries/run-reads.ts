/**
 * Reads of the client's read API about one run: its steps whole (input and output as stored, for
 * a program to use; the dashboard reads previews instead, see pipeline-reads.ts).
 */
import type { ToTransition } from '../../definition/graph.js';
import type { Queryable } from '../connect.js';
import type { StepStatus } from './steps.js';

export interface FullStepRow {
  id: string;
  branch_id: string | null;
  node: string;
  klass: string;
  to_transition: ToTransition;
  status: StepStatus;
  /** JSON text, resolved. */
  input: string;
  output: string | null;
  idempotency_key: string;
  source_step_id: string | null;
  retry_count: number;
  crash_count: number;
  started_at: Date;
  finished_at: Date | null;
}

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
