import type { Queryable } from '../connect.js';
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
