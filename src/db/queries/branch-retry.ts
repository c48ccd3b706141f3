/**
 * Writes of a branch retry (a revive that resumes one halted branch): inside the revive's
 * transaction, the run's other halted branches are put back to how they were, halted, before
 * anything outside the transaction can see or claim them.
 */
import type { Queryable } from '../connect.js';
import type { BranchViewRow } from './pipeline-reads.js';

/** A branch of a run with its status, for checking a retry request. */
export async function branchOfRun(sql: Queryable, runId: string, branchId: string): Promise<Pick<BranchViewRow, 'id' | 'status'> | undefined> {
  const [row] = await sql`select id, status from branches where id = ${branchId} and run_id = ${runId}`;
  return row as Pick<BranchViewRow, 'id' | 'status'> | undefined;
}

/**
 * In the revived run `newRunId`, halts again every branch that was halted in `previousRunId`
 * except `keepBranchId`, with its old reason and detail. Revive gave each of them a copy of its
 * latest step (linked by `source_step_id`): a re-run is taken off the queue and marked failed, a
 * step put back for routing is marked routed, as the original halt left them. One statement.
 */
export function rehaltOtherBranches(sql: Queryable, previousRunId: string, newRunId: string, keepBranchId: string) {
  return sql`
    with old as (
      select id, halt_reason, halt_detail from branches
      where run_id = ${previousRunId} and status = 'halted' and id <> ${keepBranchId}
    ), latest as (
      select distinct on (s.branch_id) s.branch_id, s.id from steps s join old on old.id = s.branch_id
      order by s.branch_id, s.started_at desc, s.id desc
    ), copy as (
      select n.id as step_id, n.branch_id, old.halt_reason, old.halt_detail
      from latest join old on old.id = latest.branch_id
      join steps n on n.run_id = ${newRunId} and n.source_step_id = latest.id
    ), halted as (
      update branches b set status = 'halted', halt_reason = copy.halt_reason, halt_detail = copy.halt_detail,
                            last_advanced_at = clock_timestamp(), updated_at = clock_timestamp()
      from copy where b.id = copy.branch_id
      returning b.id
    ), dequeued as (
      delete from executions e using copy where e.step_id = copy.step_id and e.claimed_at is null
      returning e.id
    )
    update steps s set status = case when s.status = 'in_progress' then 'failed' else 'completed' end,
                       finished_at = coalesce(s.finished_at, clock_timestamp()), completed_at = clock_timestamp(),
                       updated_at = clock_timestamp()
    from copy where s.id = copy.step_id
    returning s.id`;
}
