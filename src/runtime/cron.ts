import { CronExpressionParser } from 'cron-parser';
import { encodeJson } from '../definition/json.js';
import type { ScheduleSpec } from '../definition/schedule.js';
import type { DeclaredSchedule } from '../db/queries/schedules.js';
import { DefinitionError } from '../errors.js';

/** A schedule checked and normalized. */
export type CheckedSchedule = Omit<DeclaredSchedule, 'firstTick'>;

/** Checks a pipeline's `static schedules`; a bad one is a `schedule_invalid` error naming it. */
export function checkSchedules(pipeline: string, value: unknown): CheckedSchedule[] {
  if (value === undefined) return [];
  const fail = (message: string, name?: string): never => {
    throw new DefinitionError('schedule_invalid', `${pipeline}.schedules${name === undefined ? '' : ` "${name}"`}: ${message}`, { details: { pipeline, schedule: name } });
  };
  if (!Array.isArray(value)) fail('must be an array of { cron, timezone?, input?, missed?, name? }');
  const seen = new Set<string>();
  return (value as unknown[]).map((raw) => {
    if (raw === null || typeof raw !== 'object') return fail('each schedule must be an object { cron, ... }');
    const spec = raw as ScheduleSpec;
    const name = spec.name ?? 'default';
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) fail(`name must be letters, digits, _ . : - (got ${JSON.stringify(spec.name)})`);
    if (seen.has(name)) fail('two schedules share this name; give each a distinct `name`', name);
    seen.add(name);
    const timezone = spec.timezone ?? 'UTC';
    if (typeof timezone !== 'string' || !validTimeZone(timezone)) fail(`timezone ${JSON.stringify(timezone)} is not an IANA time zone (e.g. "Europe/Paris")`, name);
    if (typeof spec.cron !== 'string') fail('cron must be a cron expression string', name);
    try {
      CronExpressionParser.parse(spec.cron, { tz: timezone }).next();
    } catch (error) {
      fail(`cron ${JSON.stringify(spec.cron)} is invalid: ${(error as Error).message}`, name);
    }
    const missed = spec.missed ?? 'skip';
    if (missed !== 'skip' && missed !== 'catch_up') fail(`missed must be "skip" or "catch_up" (got ${JSON.stringify(missed)})`, name);
    const input = encodeJson(spec.input === undefined ? null : spec.input);
    if (!input.ok) fail(`input is not JSON at ${input.problem.path}: ${input.problem.reason}`, name);
    return { pipeline, name, cron: spec.cron, timezone, input: (input as { text: string }).text, missed };
  });
}

/** The first tick of `cron` (read in `timezone`) strictly after `after`. */
export function tickAfter(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { tz: timezone, currentDate: after }).next().toDate();
}

/** The ticks of `cron` from `from` (inclusive) up to `until` (inclusive), at most `limit`, and the first one after `until`. */
export function ticksBetween(cron: string, timezone: string, from: Date, until: Date, limit: number): { ticks: Date[]; next: Date } {
  const expression = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(from.getTime() - 1) });
  const ticks: Date[] = [];
  for (;;) {
    const tick = expression.next().toDate();
    if (tick.getTime() > until.getTime()) return { ticks, next: tick };
    if (ticks.length < limit) ticks.push(tick);
    else ticks[limit - 1] = tick; // keep the latest: a catch-up runs for the newest missed tick
  }
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
