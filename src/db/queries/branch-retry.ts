/** Reads of a branch retry (a revive that resumes one halted branch). */
import type { Queryable } from '../connect.js';
import type { BranchViewRow } from './pipeline-reads.js';

/** A branch of a run with its status, for checking a retry request. */
export async function branchOfRun(sql: Queryable, runId: string, branchId: string): Promise<Pick<BranchViewRow, 'id' | 'status'> | undefined> {
  const [row] = await sql`select id, status from branches where id = ${branchId} and run_id = ${runId}`;
  return row as Pick<BranchViewRow, 'id' | 'status'> | undefined;
}
