/**
 * What the metrics endpoint reads from the database at each scrape: the queue per pipeline, an
 * engine's connections and whether it holds its liveness lock. Never on a hot path.
 */
import type { Queryable } from '../connect.js';

export interface QueueGaugeRow {
  pipeline: string;
  ready: number;
  scheduled: number;
  in_flight: number;
  advancing: number;
}

/** Jobs per pipeline by state (the jobs table holds only pending and in-flight work; at most 1000 pipelines). */
export function queueGauges(sql: Queryable) {
  return sql<QueueGaugeRow[]>`
    select pipeline_klass as pipeline,
           count(*) filter (where kind = 'run' and claimed_at is null and run_at <= clock_timestamp())::int as ready,
           count(*) filter (where kind = 'run' and claimed_at is null and run_at > clock_timestamp())::int as scheduled,
           count(*) filter (where kind = 'run' and claimed_at is not null)::int as in_flight,
           count(*) filter (where kind = 'advance')::int as advancing
    from jobs group by pipeline_klass order by pipeline_klass limit 1000`;
}

/**
 * An engine's open connections by state (by the application name its pool and lock connection
 * carry), and whether its liveness lock (a session advisory lock on the process row's key, split
 * into two 32-bit halves in pg_locks) is granted to a session right now.
 */
export async function engineGauges(sql: Queryable, processId: string): Promise<{ active: number; idle: number; lockHeld: boolean }> {
  const [row] = await sql`
    select (select count(*) filter (where state = 'active') from pg_stat_activity where application_name = ${`ductwork-engine ${processId}`})::int as active,
           (select count(*) filter (where state <> 'active') from pg_stat_activity where application_name = ${`ductwork-engine ${processId}`})::int as idle,
           exists (
             select 1 from processes p join pg_locks l
               on l.locktype = 'advisory' and l.granted and l.objsubid = 1 and l.database = (select oid from pg_database where datname = current_database())
              and l.classid::text::bigint = (p.lock_key >> 32) & 4294967295 and l.objid::text::bigint = p.lock_key & 4294967295
             where p.id = ${processId}
           ) as lock_held`;
  return { active: row!.active as number, idle: row!.idle as number, lockHeld: row!.lock_held as boolean };
}
