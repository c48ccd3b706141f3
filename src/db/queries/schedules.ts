import { rowsJson, type Queryable } from '../connect.js';
import { textList } from '../params.js';

/** A schedule as stored: one row per pipeline class and schedule name. */
export interface ScheduleRow {
  pipeline_klass: string;
  name: string;
  cron: string;
  timezone: string;
  /** JSON text. */
  input: string;
  missed: 'skip' | 'catch_up';
  next_tick_at: Date;
  last_tick_at: Date | null;
  last_pipeline_id: string | null;
}

/** A declared schedule with its first tick after now, computed by the engine. */
export interface DeclaredSchedule {
  pipeline: string;
  name: string;
  cron: string;
  timezone: string;
  input: string;
  missed: 'skip' | 'catch_up';
  firstTick: Date;
}

/** The database clock. */
export async function databaseNow(sql: Queryable): Promise<Date> {
  const [row] = await sql`select clock_timestamp() as now`;
  return row!.now as Date;
}

/**
 * Makes the stored schedules of `pipelines` what the code declares: new ones are added, changed
 * ones updated (a changed cron or time zone starts from its next tick; otherwise the stored next
 * tick is kept, so ticks missed while no engine ran are seen), undeclared ones removed.
 */
export async function syncSchedules(sql: Queryable, pipelines: readonly string[], declared: DeclaredSchedule[]) {
  await sql`
    delete from schedules s
    where s.pipeline_klass = any(${textList(pipelines)}::text[])
      and not exists (select 1 from jsonb_to_recordset(${rowsJson(sql, declared.map((d) => ({ pipeline: d.pipeline, name: d.name })))})
                        as t(pipeline text, name text) where t.pipeline = s.pipeline_klass and t.name = s.name)`;
  if (declared.length === 0) return;
  await sql`
    insert into schedules (pipeline_klass, name, cron, timezone, input, missed, next_tick_at)
    select pipeline, name, cron, timezone, input, missed, first_tick
    from jsonb_to_recordset(${rowsJson(sql, declared.map((d) => ({ ...d, first_tick: d.firstTick.toISOString() })))})
      as t(pipeline text, name text, cron text, timezone text, input text, missed text, first_tick timestamptz)
    on conflict (pipeline_klass, name) do update set
      next_tick_at = case when schedules.cron is distinct from excluded.cron or schedules.timezone is distinct from excluded.timezone
                          then excluded.next_tick_at else schedules.next_tick_at end,
      cron = excluded.cron, timezone = excluded.timezone, input = excluded.input, missed = excluded.missed,
      updated_at = clock_timestamp()`;
}

/**
 * Inside a transaction: locks the due schedules of `pipelines` (schedules_due), skipping those
 * another engine is triggering, with the database clock.
 */
export function lockDueSchedules(sql: Queryable, pipelines: readonly string[]) {
  return sql<(ScheduleRow & { now: Date })[]>`
    select pipeline_klass, name, cron, timezone, input, missed, next_tick_at, last_tick_at, last_pipeline_id, clock_timestamp() as now
    from schedules
    where next_tick_at <= (select clock_timestamp()) and pipeline_klass = any(${textList(pipelines)}::text[])
    order by next_tick_at
    for update skip locked`;
}

/** Records a schedule's pass: its next tick, and the last tick it triggered. */
export function advanceSchedule(sql: Queryable, pipeline: string, name: string, nextTick: Date, lastTick: Date | null, lastPipelineId: string | null) {
  return sql`
    update schedules set next_tick_at = ${nextTick}, last_tick_at = coalesce(${lastTick}, last_tick_at),
                         last_pipeline_id = coalesce(${lastPipelineId}::uuid, last_pipeline_id), updated_at = clock_timestamp()
    where pipeline_klass = ${pipeline} and name = ${name}`;
}

/** Every stored schedule, soonest first (`ductwork schedules`, the dashboard). */
export function listSchedules(sql: Queryable) {
  return sql<ScheduleRow[]>`
    select pipeline_klass, name, cron, timezone, input, missed, next_tick_at, last_tick_at, last_pipeline_id
    from schedules order by next_tick_at, pipeline_klass, name`;
}

/** The earliest next tick among `pipelines`' schedules, if any. */
export async function nextTickOf(sql: Queryable, pipelines: readonly string[]): Promise<Date | undefined> {
  const [row] = await sql`select min(next_tick_at) as at from schedules where pipeline_klass = any(${textList(pipelines)}::text[])`;
  return (row?.at as Date | null) ?? undefined;
}
