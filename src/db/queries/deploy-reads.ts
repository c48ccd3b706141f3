import type { Queryable } from '../connect.js';

/** Work in the queue by pipeline class and definition, cancelled runs aside: what a deploy check compares with the build. */
export function queuedWork(sql: Queryable) {
  return sql<{ pipeline_klass: string; definition_sha1: string; graph: unknown; runs: number; waiting: number; delayed: number }[]>`
    select j.pipeline_klass, j.definition_sha1, d.graph, count(distinct j.run_id)::int as runs,
           count(*) filter (where j.kind = 'wait')::int as waiting,
           count(*) filter (where j.kind <> 'wait' and j.run_at > clock_timestamp() and j.run_at <> 'infinity')::int as delayed
    from jobs j join definitions d on d.sha1 = j.definition_sha1 join runs r on r.id = j.run_id
    where r.status <> 'cancelled' -- parked until a revive, which a later check covers
    group by j.pipeline_klass, j.definition_sha1, d.graph
    order by j.pipeline_klass`;
}

/** The pipeline classes that have stored schedules. */
export function scheduledClasses(sql: Queryable) {
  return sql<{ pipeline_klass: string; schedules: number }[]>`
    select pipeline_klass, count(*)::int as schedules from schedules group by pipeline_klass order by pipeline_klass`;
}
