import { idList, rowsJson, type Queryable } from '../connect.js';
import type { FanFrame } from './branches.js';

/** A divide or expand to open, whose members will arrive at a combine or collapse. */
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

/** One member's output brought to its fan-in, at its position (declaration or element index). */
export interface NewArrival {
  fanoutId: string;
  index: number;
  branchId: string;
  stepId: string;
  output: string;
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
 * Records many members' outputs and counts them per fan-out, in one statement. The counter
 * UPDATE takes each fan-out's row lock, so concurrent arrivals serialize and exactly one
 * transaction sees the full count. The primary key (fanout, index) refuses a second arrival of
 * the same member. Callers hold the runs' locks first (run, then fan-out), so batches that touch
 * several fan-outs cannot deadlock.
 */
export function arrive(sql: Queryable, arrivals: NewArrival[]) {
  return sql<ArrivalCount[]>`
    with input as (
      select * from jsonb_to_recordset(${rowsJson(sql, arrivals.map((a) => ({ fanout_id: a.fanoutId, idx: a.index, branch_id: a.branchId, step_id: a.stepId, output: a.output })))})
        as t(fanout_id uuid, idx int, branch_id uuid, step_id uuid, output text)
    ), recorded as (
      insert into arrivals (fanout_id, idx, branch_id, step_id, output)
      select fanout_id, idx, branch_id, step_id, output from input
    ), counted as (
      select fanout_id, count(*)::int as n from input group by fanout_id
    )
    update fanouts f set arrived = f.arrived + counted.n
    from counted where f.id = counted.fanout_id and f.id = any(${idList(unique(arrivals.map((a) => a.fanoutId)))}::uuid[])
    returning f.id, f.arrived, f.width, f.frames, f.branch_id`;
}

/** Each fan-out's member outputs as one JSON array text, in index order (declaration or element order). */
export async function gatherArrivals(sql: Queryable, fanoutIds: string[]): Promise<Map<string, string>> {
  const rows = await sql<{ fanout_id: string; input: string }[]>`
    select fanout_id, '[' || string_agg(output, ',' order by idx) || ']' as input
    from arrivals where fanout_id = any(${idList(fanoutIds)}::uuid[])
    group by fanout_id`;
  return new Map(rows.map((r) => [r.fanout_id, r.input]));
}

/** Remembers which branch each fan-in created (for status pages). */
export function markFanoutsFired(sql: Queryable, fired: { fanoutId: string; branchId: string }[]) {
  return sql`
    update fanouts f set fired_branch_id = t.branch_id
    from jsonb_to_recordset(${rowsJson(sql, fired.map((x) => ({ id: x.fanoutId, branch_id: x.branchId })))}) as t(id uuid, branch_id uuid)
    where f.id = t.id and f.id = any(${idList(fired.map((x) => x.fanoutId))}::uuid[])`;
}

/** A fan-out with its arrivals, as revive reads and copies it. */
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

export function arrivalsOfRun(sql: Queryable, runId: string) {
  return sql<{ fanout_id: string; idx: number; branch_id: string; step_id: string; output: string }[]>`
    select a.fanout_id, a.idx, a.branch_id, a.step_id, a.output
    from arrivals a join fanouts f on f.id = a.fanout_id where f.run_id = ${runId}`;
}

/** Copies fan-outs and their arrivals into a new run, so its fan-ins receive every input. */
export async function copyFanouts(
  sql: Queryable,
  runId: string,
  fanouts: { id: string; branchId: string; kind: string; width: number; arrived: number; frames: FanFrame[]; firedBranchId: string | null }[],
  arrivals: { fanoutId: string; index: number; branchId: string; stepId: string; output: string }[],
): Promise<void> {
  if (fanouts.length === 0) return;
  await sql`
    insert into fanouts (id, run_id, branch_id, kind, width, arrived, frames, fired_branch_id)
    select id, ${runId}, branch_id, kind, width, arrived, frames, fired_branch_id
    from jsonb_to_recordset(${rowsJson(sql, fanouts.map((f) => ({
      id: f.id, branch_id: f.branchId, kind: f.kind, width: f.width, arrived: f.arrived, frames: f.frames, fired_branch_id: f.firedBranchId,
    })))})
      as t(id uuid, branch_id uuid, kind text, width int, arrived int, frames jsonb, fired_branch_id uuid)`;
  if (arrivals.length === 0) return;
  await sql`
    insert into arrivals (fanout_id, idx, branch_id, step_id, output)
    select * from jsonb_to_recordset(${rowsJson(sql, arrivals.map((a) => ({ fanout_id: a.fanoutId, idx: a.index, branch_id: a.branchId, step_id: a.stepId, output: a.output })))})
      as t(fanout_id uuid, idx int, branch_id uuid, step_id uuid, output text)`;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
