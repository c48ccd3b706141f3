/**
 * Read-only queries of the dashboard about activity across pipelines: counts by status,
 * throughput and failures over time, grouped step errors, and the live engine processes.
 * Every time window is measured with the database clock.
 */
import type { Queryable } from '../connect.js';
import type { PipelineStatus } from './pipelines.js';

/** Pipelines by status (an index-only scan of pipelines_status_created once vacuumed). */
export async function pipelineCounts(sql: Queryable): Promise<Record<PipelineStatus, number>> {
  const rows = await sql`select status, count(*)::int as n from pipelines group by status`;
  const counts: Record<PipelineStatus, number> = { in_progress: 0, completed: 0, halted: 0, cancelled: 0 };
  for (const row of rows) counts[row.status as PipelineStatus] = row.n as number;
  return counts;
}

/** Attempts finished in one minute: successes and failures (errors and crashes). */
export interface MinuteBucket {
  /** Start of the minute, epoch milliseconds. */
  minute: number;
  succeeded: number;
  failed: number;
}

/**
 * Attempts finished per minute over the last hour, as 60 buckets ending with the current minute
 * (empty minutes included): successes from the steps history (steps_finished_brin), failures from
 * attempts (attempts_finished).
 */
export async function throughputLastHour(sql: Queryable): Promise<MinuteBucket[]> {
  const rows = await sql`
    with window_start as (select date_trunc('minute', clock_timestamp()) - interval '59 minutes' as t)
    select (extract(epoch from m.t) * 1000)::float8 as minute,
           count(e.outcome) filter (where e.outcome = 'success')::int as succeeded,
           count(e.outcome) filter (where e.outcome <> 'success')::int as failed
    from generate_series((select t from window_start), (select t from window_start) + interval '59 minutes', interval '1 minute') as m(t)
    left join (
      select date_trunc('minute', finished_at) as t, 'success' as outcome from steps
      where finished_at >= (select t from window_start) and status = 'completed'
      union all
      select date_trunc('minute', finished_at), outcome from attempts where finished_at >= (select t from window_start)
    ) e on e.t = m.t
    group by m.t order by m.t`;
  return rows.map((r) => ({ minute: r.minute as number, succeeded: r.succeeded as number, failed: r.failed as number }));
}

/** Failures in the last hour (attempts_finished) and steps now waiting for a retry (jobs_due). */
export async function failingCounts(sql: Queryable): Promise<{ failedLastHour: number; awaitingRetry: number }> {
  const [row] = await sql`
    select (select count(*) from attempts where finished_at >= clock_timestamp() - interval '1 hour')::int as failed,
           (select count(*) from jobs
            where kind = 'run' and claimed_at is null and (retry_count > 0 or crash_count > 0))::int as retrying`;
  return { failedLastHour: row!.failed as number, awaitingRetry: row!.retrying as number };
}

export interface ErrorGroupRow {
  pipeline_klass: string;
  step_klass: string;
  node: string;
  outcome: 'failure' | 'crashed';
  error_class: string;
  message: string;
  count: number;
  first_at: Date;
  last_at: Date;
  /** The most recent failure of the group. */
  latest_execution_id: string;
}

/**
 * Failures within the window grouped by pipeline, step and message (cut to 300 characters), most
 * recent group first. attempts_finished bounds the scan to the window's failures.
 */
export function errorGroups(sql: Queryable, filter: { sinceSeconds: number; klass?: string | undefined }, limit: number) {
  return sql<ErrorGroupRow[]>`
    select e.pipeline_klass, e.klass as step_klass, e.node, e.outcome, coalesce(e.error_class, '') as error_class,
           left(coalesce(e.error_message, ''), 300) as message, count(*)::int as count,
           min(e.finished_at) as first_at, max(e.finished_at) as last_at, max(e.id)::text as latest_execution_id
    from attempts e
    where e.finished_at >= clock_timestamp() - make_interval(secs => ${filter.sinceSeconds})
      ${filter.klass === undefined ? sql`` : sql`and e.pipeline_klass = ${filter.klass}`}
    group by 1, 2, 3, 4, 5, 6
    order by last_at desc
    limit ${limit}`;
}

export interface FailureRow {
  id: string;
  completed_at: Date;
  outcome: 'failure' | 'crashed';
  retry_count: number;
  crash_count: number;
  error_class: string | null;
  error_code: string | null;
  error_message: string | null;
  error_stack: string | null;
  step_id: string;
  step_klass: string;
  node: string;
  pipeline_klass: string;
  pipeline_id: string;
  run_id: string;
}

/** Single failures, newest first: a page of them, or the given attempts (attempts_finished). */
export function failures(
  sql: Queryable,
  filter: { sinceSeconds: number; klass?: string | undefined } | { ids: readonly string[] },
  page: { offset: number; limit: number },
) {
  if ('ids' in filter && filter.ids.length === 0) return Promise.resolve([] as FailureRow[]);
  return sql<FailureRow[]>`
    select e.id::text as id, e.finished_at as completed_at, e.outcome, e.retry_count, e.crash_count, e.error_class, e.error_code,
           left(e.error_message, 2000) as error_message, left(e.error_stack, 8000) as error_stack,
           e.step_id, e.klass as step_klass, e.node, e.pipeline_klass, r.pipeline_id, r.id as run_id
    from attempts e join runs r on r.id = e.run_id
    where true
      ${'ids' in filter
        ? sql`and e.id in ${sql(filter.ids as string[])}`
        : sql`and e.finished_at >= clock_timestamp() - make_interval(secs => ${filter.sinceSeconds})
              ${filter.klass === undefined ? sql`` : sql`and e.pipeline_klass = ${filter.klass}`}`}
    order by e.finished_at desc, e.id desc
    limit ${page.limit} offset ${page.offset}`;
}

export interface ProcessViewRow {
  id: string;
  pid: number;
  host: string;
  role: string;
  /** Worker threads running steps (0 for advancer-only and supervisor processes). */
  threads: number;
  started_at: Date;
  last_heartbeat_at: Date;
  /** Seconds since the last heartbeat, by the database clock. */
  heartbeat_age: number;
  /** Steps this process has claimed and not finished (jobs_claimed). */
  in_flight: number;
}

/** Registered engine processes, most recent heartbeat first. */
export function processList(sql: Queryable) {
  return sql<ProcessViewRow[]>`
    select p.id, p.pid, p.host, p.role, p.threads, p.started_at, p.last_heartbeat_at,
           extract(epoch from clock_timestamp() - p.last_heartbeat_at)::float8 as heartbeat_age,
           (select count(*) from jobs j where j.process_id = p.id and j.claimed_at is not null and j.kind = 'run')::int as in_flight
    from processes p order by p.last_heartbeat_at desc limit 500`;
}
