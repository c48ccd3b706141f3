import { CronExpressionParser } from 'cron-parser';
import { enqueueTrigger } from '../client/enqueue-trigger.js';
import type { DuctworkConfig } from '../config/config.js';
import { withDeadline, type Sql } from '../db/connect.js';
import { advanceSchedule, databaseNow, lockDueSchedules, nextTickOf, syncSchedules, type DeclaredSchedule } from '../db/queries/schedules.js';
import type { FoundPipeline } from '../definition/registry.js';
import type { Logger } from '../log.js';
import { checkSchedules, tickAfter, ticksBetween, type CheckedSchedule } from './cron.js';
import { PassLoop } from './pass-loop.js';

/** A tick more than this late was missed (no engine ran its pipeline then): the `missed` policy decides. */
const LATE_MS = 60_000;
/** The longest the scheduler sleeps between passes (schedules changed by another engine are seen by then). */
const MAX_SLEEP_MS = 5_000;
/** On-time ticks triggered per schedule per pass (a 1-second cron after a long pause). */
const MAX_TICKS_PER_PASS = 120;

/**
 * Triggers the cron schedules of the engine's pipelines. Each pass locks the due schedule rows
 * (SKIP LOCKED: one engine triggers a tick) and triggers each tick with the key
 * `schedule:<name>:<tick>` in the same transaction, so neither a second engine nor a restart
 * between the trigger and the row update can double a tick.
 */
export class Scheduler {
  readonly #options: { sql: Sql; config: DuctworkConfig; log: Logger; pipelines: FoundPipeline[] };
  readonly #schedules = new Map<string, CheckedSchedule>();
  readonly #loop = new PassLoop(() => this.#pass());

  constructor(options: { sql: Sql; config: DuctworkConfig; log: Logger; pipelines: FoundPipeline[] }) {
    this.#options = options;
    for (const p of options.pipelines) for (const s of checkSchedules(p.name, p.schedules)) this.#schedules.set(`${p.name}\u0000${s.name}`, s);
  }

  /** Stores the declared schedules (called at start, before any engine of this build triggers). */
  async sync(): Promise<void> {
    const { sql, pipelines } = this.#options;
    const now = await databaseNow(sql);
    const declared: DeclaredSchedule[] = [...this.#schedules.values()].map((s) => ({ ...s, firstTick: tickAfter(s.cron, s.timezone, now) }));
    await syncSchedules(sql, pipelines.map((p) => p.name), declared);
  }

  start(): void {
    if (this.#schedules.size > 0) this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** One turn: trigger what is due, then pause until the next tick (at most MAX_SLEEP_MS). */
  async #pass(): Promise<number> {
    const { log } = this.#options;
    try {
      const triggered = await this.tickOnce();
      if (triggered > 0) log.debug('Triggered scheduled runs', { runs: triggered });
      const next = await nextTickOf(this.#options.sql, this.#options.pipelines.map((p) => p.name));
      if (next) return Math.min(MAX_SLEEP_MS, Math.max(20, next.getTime() - Date.now() + 5));
    } catch (error) {
      log.warn('Schedule pass failed', { error: (error as Error).message });
    }
    return MAX_SLEEP_MS;
  }

  /** One pass (exposed for tests): triggers what is due; returns how many runs it triggered. */
  async tickOnce(): Promise<number> {
    const { sql, config, pipelines } = this.#options;
    const byName = new Map(pipelines.map((p) => [p.name, p]));
    const work = sql.begin(async (tx) => {
      let triggered = 0;
      for (const row of await lockDueSchedules(tx, [...byName.keys()])) {
        const found = byName.get(row.pipeline_klass);
        if (!found) continue;
        const now = row.now;
        const cutoff = new Date(now.getTime() - LATE_MS);
        const onTime = ticksBetween(row.cron, row.timezone, row.next_tick_at > cutoff ? row.next_tick_at : cutoff, now, MAX_TICKS_PER_PASS);
        const due = [...onTime.ticks];
        if (row.missed === 'catch_up' && row.next_tick_at <= cutoff) {
          const latestMissed = CronExpressionParser.parse(row.cron, { tz: row.timezone, currentDate: new Date(cutoff.getTime() + 1) }).prev().toDate();
          if (latestMissed >= row.next_tick_at) due.unshift(latestMissed);
        }
        let last: { tick: Date; id: string } | undefined;
        for (const tick of due) {
          const { id, created } = await enqueueTrigger(tx, config.database.schema, {
            definition: found.definition as never, pipeline: found.name, input: row.input, key: `schedule:${row.name}:${tick.toISOString()}`,
            storeDefinition: false,
          });
          last = { tick, id };
          if (created) triggered++;
        }
        await advanceSchedule(tx, row.pipeline_klass, row.name, onTime.next, last?.tick ?? null, last?.id ?? null);
      }
      return triggered;
    });
    return withDeadline(work, config.database.call_timeout * 1000, 'a schedule pass');
  }
}
