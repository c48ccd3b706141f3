import { rowsJson, type Queryable } from '../connect.js';
import type { FanFrame } from './branches.js';

/** Opens a divide or expand whose members will arrive at a combine or collapse. */
export function insertFanout(
  sql: Queryable,
  fanout: { id: string; runId: string; branchId: string; kind: 'divide' | 'expand'; width: number; frames: FanFrame[] },
) {
  return sql`
    insert into fanouts (id, run_id, branch_id, kind, width, frames)
    values (${fanout.id}, ${fanout.runId}, ${fanout.branchId}, ${fanout.kind}, ${fanout.width}, ${sql.json(fanout.frames as never)})`;
}

/** The counter after an arrival: the arrival that makes `arrived = width` fires the fan-in. */
export interface Arrival {
  arrived: number;
  width: number;
  frames: FanFrame[];
  branch_id: string;
}

/**
 * Records one member's output at its index and counts it. The counter UPDATE takes the fan-out
 * row lock, so concurrent arrivals serialize and exactly one of them sees the full count. The
 * primary key (fanout, index) refuses a second arrival of the same member.
 */
export async function arrive(
  sql: Queryable,
  arrival: { fanoutId: string; index: number; branchId: string; stepId: string; output: string },
): Promise<Arrival> {
  const [row] = await sql<Arrival[]>`
    with recorded as (
      insert into arrivals (fanout_id, idx, branch_id, step_id, output)
      values (${arrival.fanoutId}, ${arrival.index}, ${arrival.branchId}, ${arrival.stepId}, ${arrival.output})
    )
    update fanouts set arrived = arrived + 1 where id = ${arrival.fanoutId}
    returning arrived, width, frames, branch_id`;
  if (!row) throw new Error(`fan-out ${arrival.fanoutId} does not exist`);
  return row;
}

/** The members' outputs as one JSON array text, in index order (declaration or element order). */
export async function gatherArrivals(sql: Queryable, fanoutId: string): Promise<string> {
  const [row] = await sql`
    select coalesce('[' || string_agg(output, ',' order by idx) || ']', '[]') as input
    from arrivals where fanout_id = ${fanoutId}`;
  return row!.input as string;
}

/** Remembers which branch the fan-in created (for status pages). */
export function markFanoutFired(sql: Queryable, fanoutId: string, branchId: string) {
  return sql`update fanouts set fired_branch_id = ${branchId} where id = ${fanoutId}`;
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
