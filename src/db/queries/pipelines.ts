import type { Queryable } from '../connect.js';

/** Pipeline (and run) statuses. */
export type PipelineStatus = 'in_progress' | 'completed' | 'halted';

export interface PipelineRow {
  id: string;
  klass: string;
  status: PipelineStatus;
  created_at: Date;
  updated_at: Date;
}

/** Creates the durable identity of a triggered pipeline. */
export function insertPipeline(sql: Queryable, id: string, klass: string) {
  return sql`insert into pipelines (id, klass, status) values (${id}, ${klass}, 'in_progress')`;
}

export async function findPipeline(sql: Queryable, id: string): Promise<PipelineRow | undefined> {
  const [row] = await sql<PipelineRow[]>`select id, klass, status, created_at, updated_at from pipelines where id = ${id}`;
  return row;
}

/** Locks a pipeline row for a revive (which must see its status and write a new run atomically). */
export async function lockPipeline(sql: Queryable, id: string): Promise<PipelineRow | undefined> {
  const [row] = await sql<PipelineRow[]>`select id, klass, status, created_at, updated_at from pipelines where id = ${id} for update`;
  return row;
}

/** Sets a pipeline's status (revive puts a halted pipeline back in progress). */
export function setPipelineStatus(sql: Queryable, id: string, status: PipelineStatus) {
  return sql`update pipelines set status = ${status}, updated_at = clock_timestamp() where id = ${id}`;
}
