import { idList, rowsJson, type Queryable } from '../connect.js';

/** One open fan-out a branch is inside: fan-out id and the branch's index within it. */
export interface FanFrame {
  f: string;
  i: number;
}

/** Why a branch halted. */
export type HaltReason =
  | 'job_retries_exhausted'
  | 'job_crashes_exhausted'
  | 'advancer_retries_exhausted'
  | 'advancer_crashes_exhausted'
  | 'max_fanout_exceeded'
  | 'condition_unmatched'
  | 'wait_timed_out'
  | 'child_halted'
  | 'transition_invalid';

export interface NewBranch {
  id: string;
  runId: string;
  pipelineKlass: string;
  parentBranchId: string | null;
  frames: FanFrame[];
}

/** Inserts many branches in one statement; a member of a fan-out records its fan-out and index. */
export function insertBranches(sql: Queryable, branches: NewBranch[]) {
  return sql`
    insert into branches (id, run_id, pipeline_klass, parent_branch_id, frames, fanout_id, fanout_idx, status, started_at, last_advanced_at)
    select id, run_id, pipeline_klass, parent_branch_id, frames, (frames -> -1 ->> 'f')::uuid, (frames -> -1 ->> 'i')::int,
           'in_progress', clock_timestamp(), clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({ id: b.id, run_id: b.runId, pipeline_klass: b.pipelineKlass, parent_branch_id: b.parentBranchId, frames: b.frames })))})
      as t(id uuid, run_id uuid, pipeline_klass text, parent_branch_id uuid, frames jsonb)`;
}

/**
 * Ends many branches successfully in one statement: at a terminal node (`terminalStepId`, the run's
 * output), arriving at a fan-in (`arrivalStepId`, the member's input to it), or neither (it fanned out).
 * Returns the branches ended here: one already ended is not ended twice, which is what makes an
 * arrival count once.
 */
export async function completeBranches(sql: Queryable, branches: { id: string; terminalStepId: string | null; arrivalStepId: string | null }[]): Promise<Set<string>> {
  const rows = await sql`
    update branches b set status = 'completed', completed_at = clock_timestamp(), last_advanced_at = clock_timestamp(),
                          terminal_step_id = t.terminal_step_id, arrival_step_id = t.arrival_step_id, updated_at = clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({ id: b.id, terminal_step_id: b.terminalStepId, arrival_step_id: b.arrivalStepId })))})
      as t(id uuid, terminal_step_id uuid, arrival_step_id uuid)
    where b.id = t.id and b.id = any(${idList(branches.map((b) => b.id))}::uuid[]) and b.status = 'in_progress'
    returning b.id`;
  return new Set(rows.map((r) => r.id as string));
}

/** Halts many branches in one statement, each with a reason and a human-readable detail. */
export function haltBranches(sql: Queryable, branches: { id: string; reason: HaltReason; detail: string }[]) {
  return sql`
    update branches b set status = 'halted', halt_reason = t.reason, halt_detail = t.detail,
                          last_advanced_at = clock_timestamp(), updated_at = clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches)}) as t(id uuid, reason text, detail text)
    where b.id = t.id and b.id = any(${idList(branches.map((b) => b.id))}::uuid[]) and b.status = 'in_progress'`;
}

/** Halt reasons of a run's halted branches, oldest first (the on_halt handler's input). */
export async function haltReasons(sql: Queryable, runId: string): Promise<HaltReason[]> {
  const rows = await sql`select halt_reason from branches where run_id = ${runId} and status = 'halted' order by started_at, id`;
  return rows.map((r) => r.halt_reason as HaltReason);
}

/** A branch of a run as revive reads it. */
export interface BranchRow {
  id: string;
  parent_branch_id: string | null;
  frames: FanFrame[];
  status: 'in_progress' | 'completed' | 'halted';
  halt_reason: HaltReason | null;
  halt_detail: string | null;
  terminal_step_id: string | null;
  arrival_step_id: string | null;
}

/** Every branch of a run, oldest first. */
export function branchesOfRun(sql: Queryable, runId: string) {
  return sql<BranchRow[]>`
    select id, parent_branch_id, frames, status, halt_reason, halt_detail, terminal_step_id, arrival_step_id
    from branches where run_id = ${runId} order by started_at, id`;
}

/** A branch copied into a revived run: completed ones stay completed, halted ones resume or stay halted. */
export interface CopiedBranch {
  id: string;
  parentBranchId: string | null;
  frames: FanFrame[];
  status: 'in_progress' | 'completed' | 'halted';
  haltReason: HaltReason | null;
  haltDetail: string | null;
  terminalStepId: string | null;
  arrivalStepId: string | null;
}

/** Inserts copies of branches (revive). */
export function copyBranches(sql: Queryable, runId: string, pipelineKlass: string, branches: CopiedBranch[]) {
  if (branches.length === 0) return Promise.resolve([]);
  return sql`
    insert into branches (id, run_id, pipeline_klass, parent_branch_id, frames, fanout_id, fanout_idx, status, halt_reason, halt_detail,
                          terminal_step_id, arrival_step_id, started_at, last_advanced_at, completed_at)
    select id, ${runId}, ${pipelineKlass}, parent_branch_id, frames, (frames -> -1 ->> 'f')::uuid, (frames -> -1 ->> 'i')::int, status,
           halt_reason, halt_detail, terminal_step_id, arrival_step_id, clock_timestamp(), clock_timestamp(),
           case when status = 'completed' then clock_timestamp() end
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({
      id: b.id, parent_branch_id: b.parentBranchId, frames: b.frames, status: b.status, halt_reason: b.haltReason, halt_detail: b.haltDetail,
      terminal_step_id: b.terminalStepId, arrival_step_id: b.arrivalStepId,
    })))})
      as t(id uuid, parent_branch_id uuid, frames jsonb, status text, halt_reason text, halt_detail text, terminal_step_id uuid, arrival_step_id uuid)`;
}

/** Ends a run's open branches as cancelled. */
export function cancelBranches(sql: Queryable, runId: string) {
  return sql`update branches set status = 'cancelled', last_advanced_at = clock_timestamp(), updated_at = clock_timestamp()
             where run_id = ${runId} and status = 'in_progress'`;
}

/** A revive of a cancelled run: its cancelled branches are open again. */
export function resumeCancelledBranches(sql: Queryable, runId: string) {
  return sql`update branches set status = 'in_progress', updated_at = clock_timestamp() where run_id = ${runId} and status = 'cancelled'`;
}
