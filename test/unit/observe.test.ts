import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineMetrics } from '../../src/observe/metrics.js';
import { formatTraceparent, parseTraceparent, withTraceparent } from '../../src/observe/trace-context.js';
import { startTriggerSpan, tracingActive } from '../../src/observe/tracing.js';

// No OpenTelemetry SDK is registered in this process: every span call must be a no-op.

test('a traceparent round-trips, and malformed or invalid ones are ignored', () => {
  const text = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const parsed = parseTraceparent(text)!;
  assert.deepEqual(parsed, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
  assert.equal(formatTraceparent(parsed), text);
  for (const bad of [null, undefined, '', 'garbage', '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, `00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`]) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
});

test('without an SDK nothing is traced and nothing is stored', () => {
  assert.equal(tracingActive(), false);
  const { span, traceContext } = startTriggerSpan('P');
  assert.equal(traceContext, null);
  assert.equal(span.isRecording(), false);
  assert.equal(withTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', () => 42), 42);
});

test('metrics carry class names and outcomes as labels, never ids, and the database gauges are read at scrape', async () => {
  let reads = 0;
  const metrics = new EngineMetrics({
    pipelines: ['A', 'B'], poolSize: 4,
    readGauges: async () => {
      reads++;
      return { queue: [{ pipeline: 'A', ready: 3, scheduled: 1, in_flight: 2, advancing: 0 }], pool: { active: 1, idle: 2 }, livenessLockHeld: true };
    },
  });
  metrics.stepStarted('A', 'S', 0.2);
  metrics.stepEnded('A', 'S', 'completed', 0.01);
  metrics.stepStarted('A', 'S', 0);
  metrics.stepEnded('A', 'S', 'lost', 0.01);
  metrics.advanced('A', 'job_retries_exhausted');
  metrics.reaped(2);
  const text = await metrics.scrape();
  assert.equal(reads, 1);
  for (const line of [
    'ductwork_steps_started_total{pipeline="A",step="S"} 2',
    'ductwork_steps_completed_total{pipeline="A",step="S"} 1',
    'ductwork_step_duration_seconds_count{pipeline="A",step="S",outcome="lost"} 1',
    'ductwork_executions{pipeline="A",state="ready"} 3',
    'ductwork_executions{pipeline="B",state="in_flight"} 0',
    'ductwork_halts_total{pipeline="A",reason="job_retries_exhausted"} 1',
    'ductwork_reaped_claims_total 2',
    'ductwork_db_pool_connections{state="idle"} 2',
    'ductwork_db_pool_size 4',
    'ductwork_liveness_lock_held 1',
  ]) assert.ok(text.includes(`${line}\n`), `${line} in\n${text}`);
  assert.doesNotMatch(text, /ductwork_steps_(failed|crashed|timed_out)_total\{/, 'a lost claim is no outcome');

  const dashboardOnly = await new EngineMetrics({ engine: false, readGauges: async () => ({ queue: [] }) }).scrape();
  assert.match(dashboardOnly, /ductwork_executions/);
  assert.doesNotMatch(dashboardOnly, /ductwork_(steps_started_total|liveness_lock_held|reaped_claims_total)/);
});
