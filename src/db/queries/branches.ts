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
  | 'transition_invalid';

export interface NewBranch {
  id: string;
  runId: string;
  pipelineKlass: string;
  parentBranchId: string | null;
  frames: FanFrame[];
}

/** Inserts many branches in one statement (an expand may create thousands). */
export function insertBranches(sql: Queryable, branches: NewBranch[]) {
  return sql`
    insert into branches (id, run_id, pipeline_klass, parent_branch_id, frames, status, started_at, last_advanced_at)
    select id, run_id, pipeline_klass, parent_branch_id, frames, 'in_progress', clock_timestamp(), clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({ id: b.id, run_id: b.runId, pipeline_klass: b.pipelineKlass, parent_branch_id: b.parentBranchId, frames: b.frames })))})
      as t(id uuid, run_id uuid, pipeline_klass text, parent_branch_id uuid, frames jsonb)`;
}

/** A branch locked for advancement together with the finished step it will be moved off. */
export interface AdvanceableBranch {
  branch_id: string;
  run_id: string;
  pipeline_id: string;
  frames: FanFrame[];
  advance_errors: number;
  step_id: string;
  node: string;
  klass: string;
  step_status: 'advancing' | 'failed';
  output: string | null;
  idempotency_key: string;
  /** Fingerprint of the run's frozen definition (definitions are cached by it). */
  definition_sha1: string;
  /** For a failed step: how its last execution ended (a crash or an error). */
  last_outcome: 'failure' | 'crashed' | null;
  /** For a failed step: its last execution's error, as `Class: message`. */
  last_error: string | null;
}

/**
 * Locks up to `limit` in-progress branches of `pipeline` whose current step finished (its job
 * succeeded or failed for good). The row locks are the claim: they last for the advancing
 * transaction, so a dead advancer releases them by dying. The step row is locked too: when
 * another advancer moved the branch and committed after our snapshot, re-checking the locked
 * step row (not the stale snapshot) is what excludes it. Uses `steps_awaiting_advance`.
 */
export function lockAdvanceableBranches(sql: Queryable, pipeline: string, limit: number) {
  return sql<AdvanceableBranch[]>`
    select b.id as branch_id, b.run_id, r.pipeline_id, b.frames, b.advance_errors,
           s.id as step_id, s.node, s.klass, s.status as step_status, s.output, s.idempotency_key, r.definition_sha1,
           case when s.status = 'failed' then (
             select e.outcome from executions e where e.step_id = s.id and e.outcome is not null order by e.id desc limit 1
           ) end as last_outcome,
           case when s.status = 'failed' then (
             select concat_ws(': ', e.error_class, e.error_message) from executions e where e.step_id = s.id and e.outcome is not null order by e.id desc limit 1
           ) end as last_error
    from steps s
    join branches b on b.id = s.branch_id
    join runs r on r.id = b.run_id
    where s.pipeline_klass = ${pipeline}
      and s.completed_at is null and s.status in ('advancing', 'failed')
      and b.status = 'in_progress' and b.advance_after <= clock_timestamp()
    order by s.finished_at
    limit ${limit}
    for update of b, s skip locked`;
}

/** Ends many branches successfully in one statement; `terminalStepId` is set for those that ended at a terminal node. */
export function completeBranches(sql: Queryable, branches: { id: string; terminalStepId: string | null }[]) {
  return sql`
    update branches b set status = 'completed', completed_at = clock_timestamp(), last_advanced_at = clock_timestamp(),
                          terminal_step_id = t.terminal_step_id, updated_at = clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({ id: b.id, terminal_step_id: b.terminalStepId })))})
      as t(id uuid, terminal_step_id uuid)
    where b.id = t.id and b.id = any(${idList(branches.map((b) => b.id))}::uuid[]) and b.status = 'in_progress'`;
}

/** Halts many branches in one statement, each with a reason and a human-readable detail. */
export function haltBranches(sql: Queryable, branches: { id: string; reason: HaltReason; detail: string }[]) {
  return sql`
    update branches b set status = 'halted', halt_reason = t.reason, halt_detail = t.detail,
                          last_advanced_at = clock_timestamp(), updated_at = clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, branches)}) as t(id uuid, reason text, detail text)
    where b.id = t.id and b.id = any(${idList(branches.map((b) => b.id))}::uuid[]) and b.status = 'in_progress'`;
}

/** After a successful chain-like move: these branches' advancer error budgets start afresh. */
export function resetAdvanceErrors(sql: Queryable, branchIds: string[]) {
  return sql`
    update branches set advance_errors = 0, advance_after = '-infinity', last_advanced_at = clock_timestamp(),
                        updated_at = clock_timestamp()
    where id = any(${idList(branchIds)}::uuid[])`;
}

/** Records a failed advancement and when the branch may be tried again (database clock). */
export function deferAdvance(sql: Queryable, branchId: string, delayMs: number, detail: string) {
  return sql`
    update branches set advance_errors = advance_errors + 1,
                        advance_after = clock_timestamp() + make_interval(secs => ${delayMs / 1000}),
                        halt_detail = ${detail}, updated_at = clock_timestamp()
    where id = ${branchId} and status = 'in_progress'`;
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
  terminal_step_id: string | null;
}

/** Every branch of a run, oldest first. */
export function branchesOfRun(sql: Queryable, runId: string) {
  return sql<BranchRow[]>`
    select id, parent_branch_id, frames, status, halt_reason, terminal_step_id
    from branches where run_id = ${runId} order by started_at, id`;
}

/** Inserts copies of branches (revive): completed ones stay completed, the rest start in progress. */
export function copyBranches(
  sql: Queryable,
  runId: string,
  pipelineKlass: string,
  branches: { id: string; parentBranchId: string | null; frames: FanFrame[]; status: 'in_progress' | 'completed'; terminalStepId: string | null }[],
) {
  if (branches.length === 0) return Promise.resolve([]);
  return sql`
    insert into branches (id, run_id, pipeline_klass, parent_branch_id, frames, status, terminal_step_id,
                          started_at, last_advanced_at, completed_at)
    select id, ${runId}, ${pipelineKlass}, parent_branch_id, frames, status, terminal_step_id,
           clock_timestamp(), clock_timestamp(), case when status = 'completed' then clock_timestamp() end
    from jsonb_to_recordset(${rowsJson(sql, branches.map((b) => ({ id: b.id, parent_branch_id: b.parentBranchId, frames: b.frames, status: b.status, terminal_step_id: b.terminalStepId })))})
      as t(id uuid, parent_branch_id uuid, frames jsonb, status text, terminal_step_id uuid)`;
}
