import type { TestSchema } from './db.js';

/** One attempt of a step, as the tests read it: a failed or crashed one (attempts), or the one that succeeded (the step's history). */
export interface AttemptRow {
  step_id: string;
  run_id: string;
  klass: string;
  retry_count: number;
  crash_count: number;
  outcome: 'failure' | 'crashed' | 'success';
  error_class: string | null;
  error_code: string | null;
  error_message: string | null;
  process_id: string | null;
  finished_at: Date;
  /** When the next attempt became due, for a failed or crashed one that was retried. */
  retry_at: Date | null;
}

/**
 * Every finished attempt of the steps of the given runs (optionally of one step class), oldest
 * first. A revive's copy of a completed step is not an attempt (nothing ran): copies are the
 * completed steps whose source step completed too.
 */
export function attemptsOf(db: TestSchema, runIds: string | string[], klass?: string) {
  const runs = Array.isArray(runIds) ? runIds : [runIds];
  return db.sql<AttemptRow[]>`
    select step_id, run_id, klass, retry_count, crash_count, outcome, error_class, error_code, error_message, process_id, finished_at, retry_at from (
      select a.step_id, a.run_id, a.klass, a.retry_count, a.crash_count, a.outcome, a.error_class, a.error_code, a.error_message, a.process_id,
             a.finished_at, a.retry_at, a.id as n
      from attempts a where a.run_id in ${db.sql(runs)} ${klass === undefined ? db.sql`` : db.sql`and a.klass = ${klass}`}
      union all
      select s.id, s.run_id, s.klass, s.retry_count, s.crash_count, 'success', null, null, null, s.process_id, s.finished_at, null, 9e18
      from steps s where s.run_id in ${db.sql(runs)} and s.status = 'completed' ${klass === undefined ? db.sql`` : db.sql`and s.klass = ${klass}`}
        and not exists (select 1 from steps o where o.id = s.source_step_id and o.status = 'completed')
    ) x order by finished_at, n`;
}
