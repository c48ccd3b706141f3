/**
 * Cron schedules: two engines over 100 one-second ticks trigger each tick exactly once; missed
 * ticks follow their policy; a bad schedule stops the engine from starting.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import type { DuctworkError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { freshSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { Ticker, Yearly } from '../fixtures/schedule-pipelines.js';

const SCHEDULE_APP = new URL('../fixtures/schedule-pipelines.js', import.meta.url).href;
const db = await freshSchema(import.meta.url);
after(() => db.drop());

test('two engines trigger every tick of a one-second schedule exactly once over 100 ticks', { timeout: 240_000 }, async () => {
  const engines = await Promise.all([1, 2].map(() => startTestEngine(db, { app: SCHEDULE_APP, pipelines: ['Ticker'] })));
  try {
    await waitFor('100 ticks', async () => (await db.sql`select count(*)::int as n from pipelines where klass = 'Ticker'`)[0]!.n >= 100, 200_000);
  } finally {
    await Promise.all(engines.map((e) => e.stop()));
  }
  const rows = await db.sql`select key, count(*)::int as n from pipelines where klass = 'Ticker' group by key`;
  for (const row of rows) assert.equal(row.n, 1, `tick ${row.key} was triggered once`);
  const ticks = rows.map((r) => Date.parse((r.key as string).replace(/^schedule:default:/, ''))).sort((a, b) => a - b);
  assert.ok(ticks.length >= 100);
  for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i]! - ticks[i - 1]!, 1000, `no tick skipped or doubled between ${new Date(ticks[i - 1]!).toISOString()} and the next`);
  const [stored] = await db.sql`select last_tick_at, last_pipeline_id from schedules where pipeline_klass = 'Ticker'`;
  assert.equal(stored!.last_tick_at.getTime(), ticks.at(-1));
});

/** A scheduler of its own for `Yearly` with one schedule, whose next tick is set two years back. */
async function yearlyScheduler(missed: 'skip' | 'catch_up') {
  const config = resolveConfig({ database: { url: db.url, schema: db.schema } });
  const scheduler = new Scheduler({
    sql: db.sql, config, log: createLogger('silent'),
    pipelines: [{ name: 'Yearly', definition: Yearly.definition as never, schedules: [{ name: missed, cron: '0 0 0 1 1 *', missed }] }],
  });
  await scheduler.sync();
  await db.sql`update schedules set next_tick_at = date_trunc('year', now()) - interval '2 years' where pipeline_klass = 'Yearly' and name = ${missed}`;
  return scheduler;
}

test('missed ticks are skipped, or caught up with one run for the latest of them', async () => {
  await db.sql`insert into definitions (sha1, graph) values (${Yearly.definition!.sha1}, ${db.sql.json(Yearly.definition!.graph as never)}) on conflict do nothing`;
  const skip = await yearlyScheduler('skip');
  assert.equal(await skip.tickOnce(), 0);
  const catchUp = await yearlyScheduler('catch_up');
  assert.equal(await catchUp.tickOnce(), 1);
  const keys = await db.sql`select key from pipelines where klass = 'Yearly'`;
  const lastNewYear = new Date(Date.UTC(new Date().getUTCFullYear(), 0, 1)).toISOString();
  assert.deepEqual(keys.map((k) => k.key), [`schedule:catch_up:${lastNewYear}`]);
  assert.equal(await catchUp.tickOnce(), 0, 'nothing is due any more');
  const next = await db.sql`select name, next_tick_at from schedules where pipeline_klass = 'Yearly' order by name`;
  for (const row of next) assert.equal(row.next_tick_at.toISOString(), new Date(Date.UTC(new Date().getUTCFullYear() + 1, 0, 1)).toISOString());
});

test('a schedule with a bad cron, time zone or policy stops the engine from starting, naming it', async () => {
  const cases: [unknown, RegExp][] = [
    [[{ cron: '61 * * * *' }], /Ticker.schedules "default": cron "61 \* \* \* \*" is invalid/],
    [[{ cron: '* * * * *', timezone: 'Mars/Olympus' }], /timezone "Mars\/Olympus" is not an IANA time zone/],
    [[{ cron: '* * * * *', missed: 'sometimes' }], /missed must be "skip" or "catch_up"/],
    [[{ cron: '* * * * *' }, { cron: '0 * * * *' }], /two schedules share this name/],
  ];
  const saved = Ticker.schedules;
  try {
    for (const [schedules, message] of cases) {
      (Ticker as { schedules: unknown }).schedules = schedules;
      await assert.rejects(startTestEngine(db, { app: SCHEDULE_APP, pipelines: ['Ticker'] }), (e: DuctworkError) => {
        assert.equal(e.code, 'schedule_invalid');
        assert.match(e.message, message);
        return true;
      });
    }
  } finally {
    (Ticker as { schedules: unknown }).schedules = saved;
  }
});
