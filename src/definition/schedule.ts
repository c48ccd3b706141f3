/** A cron schedule of a pipeline class (`static schedules`). */
export interface ScheduleSpec {
  /** Distinguishes several schedules of one pipeline (default `"default"`); keep it stable. */
  name?: string;
  /**
   * A cron expression: five fields (minute hour day-of-month month day-of-week) or six with
   * seconds first; `@daily`, `@hourly`... as well.
   */
  cron: string;
  /** IANA time zone the expression is read in (default `UTC`), e.g. `Europe/Paris`. */
  timezone?: string;
  /** The input of every run it triggers (JSON; default `null`). */
  input?: unknown;
  /**
   * Ticks that passed while no engine ran the pipeline (more than a minute late): `skip` them
   * (default), or `catch_up` with one run for the latest of them.
   */
  missed?: 'skip' | 'catch_up';
}
