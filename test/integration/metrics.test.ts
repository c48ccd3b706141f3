import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { listenMetrics } from '../../src/observe/metrics-handler.js';
import { testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { EnrichAllUsersData, FlakyPipeline, OverrunPipeline, SleepyPipeline, ThreadKillerPipeline } from '../fixtures/pipelines.js';

// A real engine serving /metrics on a real port; every counter is checked against what the
// database recorded, and the gauges against the queue while a step is in flight.
const { db, engine, client } = await testEngine(import.meta.url, { job_worker: { max_retry: 1 } });
const server = await listenMetrics({ metrics: engine.metrics, port: 0 });
after(() => server.close());

/** Every sample of a scrape, keyed `name{label="value",...}` as Prometheus prints them. */
async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(server.url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** The samples of one metric by the values of two labels (pipeline, then step or reason): `a/b` → value. */
function byLabels(samples: Map<string, number>, name: string, second: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}{`)) continue;
    const labels = Object.fromEntries([...key.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (value !== 0) out[`${labels.pipeline}/${labels[second] ?? ''}`] = value;
  }
  return out;
}

const grouped = (rows: readonly Record<string, unknown>[]) => Object.fromEntries(rows.map((r) => [`${r.pipeline}/${r.label}`, r.n as number]));

test('the metrics endpoint shows the queue during a run, and its counters match the database after it', async () => {
  const sleepy = await client.trigger(SleepyPipeline, { ms: 1500 });
  const handles = [
    await client.trigger(EnrichAllUsersData, { count: 3 }),
    await client.trigger(FlakyPipeline, { succeedOnAttempt: 2 }),
    await client.trigger(ThreadKillerPipeline, { crashes: 1 }),
    await client.trigger(OverrunPipeline, { obey: true }),
  ];

  // During the run: the Sleepy step is claimed, and the gauges read it from the database.
  const { runId } = await sleepy.status();
  await waitFor('the sleepy step to be in flight', async () => (await db.sql`select 1 from jobs where run_id = ${runId} and claimed_at is not null`).length > 0);
  const during = await scrape();
  const [queued] = await db.sql`select count(*) filter (where claimed_at is not null)::int as in_flight from jobs where pipeline_klass = 'SleepyPipeline' and kind = 'run'`;
  assert.equal(during.get('ductwork_executions{pipeline="SleepyPipeline",state="in_flight"}'), queued!.in_flight);
  assert.ok(queued!.in_flight >= 1);
  assert.equal(during.get('ductwork_executions{pipeline="ChainPipeline",state="ready"}'), 0, "every pipeline the engine runs is shown, idle ones at 0");
  assert.equal(during.get('ductwork_liveness_lock_held'), 1, 'the engine holds its liveness lock');
  assert.ok((during.get('ductwork_db_pool_connections{state="idle"}') ?? 0) + (during.get('ductwork_db_pool_connections{state="active"}') ?? 0) >= 1);
  assert.equal(during.get('ductwork_db_pool_size'), 6);
  assert.ok((during.get('ductwork_steps_started_total{pipeline="SleepyPipeline",step="Sleepy"}') ?? 0) >= 1);

  for (const handle of [sleepy, ...handles]) await handle.wait({ timeoutMs: 60_000 });
  assert.equal((await handles[3]!.status()).status, 'halted', 'the overrunning step timed out until its retries ran out');

  // After it: every counter equals what the database recorded (advancements may land just after a run's end).
  const expected = async () => {
    const [completed, failed, timedOut, crashed, halts, advanced] = await Promise.all([
      db.sql`select r.pipeline_klass as pipeline, s.klass as label, count(*)::int as n from steps s join runs r on r.id = s.run_id where s.status = 'completed' group by 1, 2`,
      db.sql`select pipeline_klass as pipeline, klass as label, count(*)::int as n from attempts where outcome = 'failure' and error_code is distinct from 'step_timeout' group by 1, 2`,
      db.sql`select pipeline_klass as pipeline, klass as label, count(*)::int as n from attempts where outcome = 'failure' and error_code = 'step_timeout' group by 1, 2`,
      db.sql`select pipeline_klass as pipeline, klass as label, count(*)::int as n from attempts where outcome = 'crashed' group by 1, 2`,
      db.sql`select pipeline_klass as pipeline, halt_reason as label, count(*)::int as n from branches where status = 'halted' group by 1, 2`,
      // Every finished step of a branch moved it on once (the on_halt step belongs to no branch).
      db.sql`select r.pipeline_klass as pipeline, '' as label, count(*)::int as n from steps s join runs r on r.id = s.run_id where s.branch_id is not null group by 1, 2`,
    ]);
    return { completed: grouped(completed), failed: grouped(failed), timedOut: grouped(timedOut), crashed: grouped(crashed), halts: grouped(halts), advanced: grouped(advanced) };
  };
  const shown = (samples: Map<string, number>) => ({
    completed: byLabels(samples, 'ductwork_steps_completed_total', 'step'),
    failed: byLabels(samples, 'ductwork_steps_failed_total', 'step'),
    timedOut: byLabels(samples, 'ductwork_steps_timed_out_total', 'step'),
    crashed: byLabels(samples, 'ductwork_steps_crashed_total', 'step'),
    halts: byLabels(samples, 'ductwork_halts_total', 'reason'),
    advanced: byLabels(samples, 'ductwork_advancements_total', 'none'),
  });
  const want = await expected();
  let last: ReturnType<typeof shown> | undefined;
  await waitFor('the counters to match the database', async () => {
    last = shown(await scrape());
    return JSON.stringify(last.advanced) === JSON.stringify(want.advanced);
  }, 10_000).catch(() => undefined);
  assert.deepEqual(last, want);
  // (a step sharing the killed thread crashes with it)
  assert.equal(want.crashed['ThreadKillerPipeline/ThreadKiller'], 1);
  assert.deepEqual(want.failed, { 'FlakyPipeline/Flaky': 1 });
  assert.deepEqual(want.timedOut, { 'OverrunPipeline/Overrun': 2 });
  assert.deepEqual(want.halts, { 'OverrunPipeline/job_retries_exhausted': 1 });

  // Each attempt started was counted once, and its duration observed once.
  const after = await scrape();
  const started = byLabels(after, 'ductwork_steps_started_total', 'step');
  const ended: Record<string, number> = {};
  for (const counts of [want.completed, want.failed, want.timedOut, want.crashed]) for (const [k, n] of Object.entries(counts)) ended[k] = (ended[k] ?? 0) + n;
  assert.deepEqual(started, ended);
  const durations = [...after].filter(([k]) => k.startsWith('ductwork_step_duration_seconds_count')).reduce((sum, [, n]) => sum + n, 0);
  assert.equal(durations, Object.values(ended).reduce((a, b) => a + b, 0));
});

test('the dashboard serves the queue gauges at /metrics', async () => {
  const { createDashboard } = await import('../../src/dashboard/handler.js');
  const { createServer } = await import('node:http');
  const dashboard = createDashboard({ client });
  const http = createServer((req, res) => void dashboard(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = http.address() as { port: number };
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /# TYPE ductwork_executions gauge/);
    assert.doesNotMatch(text, /ductwork_steps_started_total/, 'a dashboard without an engine serves no engine counters');
  } finally {
    await new Promise((resolve) => http.close(resolve));
    await dashboard.close();
  }
});
