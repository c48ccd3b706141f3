import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTRIBUTES, SPAN_NAMES } from '../../src/observe/tracing.js';
import { testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import { EnrichAllUsersData, FlakyPipeline, TraceparentPipeline } from '../fixtures/pipelines.js';

// An SDK in this process (the engine's main thread and the triggering client) with an in-memory
// exporter, and one in every worker thread writing to a file; the overview pipeline runs with a
// worker thread killed under user 2's LoadUserData and user 3's FetchB throwing once.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const dir = mkdtempSync(join(tmpdir(), 'ductwork-tracing-'));
const threadSpans = join(dir, 'thread-spans.jsonl');
process.env.DUCTWORK_TEST_OVERVIEW_FAULTS = '1';
process.env.DUCTWORK_TEST_THREAD_SPANS = threadSpans;
const { db, client } = await testEngine(import.meta.url);
after(async () => {
  await provider.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const attr = (span: ReadableSpan, name: string) => span.attributes[name];

test('one trace holds the trigger, every execution (a crash and a retry included), every advancement and their parent links', async () => {
  // The trigger's span is a child of whatever span the caller has open.
  const request = trace.getTracer('test').startSpan('http request');
  const handle = await context.with(trace.setSpan(context.active(), request), () => client.trigger(EnrichAllUsersData, { count: 4 }));
  request.end();
  const result = await handle.result({ timeoutMs: 60_000 });
  assert.deepEqual(result, { count: 4, results: ['1:notified', '2:notified', '3:flagged', '4:notified'] });
  const { runId } = await handle.status();

  const [stored] = await db.sql`select trace_context from pipelines where id = ${handle.id}`;
  const steps = await db.sql`select id, klass from steps where run_id = ${runId}`;
  const attempts = await db.sql`select step_id, klass, outcome, retry_count, crash_count from attempts where run_id = ${runId}`;
  assert.ok(attempts.some((a) => a.klass === 'LoadUserData' && a.outcome === 'crashed'), 'a worker thread crashed under LoadUserData');
  assert.ok(attempts.some((a) => a.klass === 'FetchB' && a.outcome === 'failure'), 'FetchB failed once');

  // Spans end as their outcomes commit; the last advancement may land just after the result.
  const spans = await waitFor('a span for every execution and advancement', () => {
    const all = exporter.getFinishedSpans().filter((s) => s.name.startsWith('ductwork.') && attr(s, ATTRIBUTES.pipelineId) === handle.id);
    const executions = all.filter((s) => s.name === SPAN_NAMES.step);
    const advances = all.filter((s) => s.name === SPAN_NAMES.advance);
    return executions.length >= steps.length + attempts.length && advances.length >= steps.length ? all : undefined;
  }).catch((error: Error) => {
    // Say what is missing: which steps have fewer execution or advancement spans than the database shows.
    const all = exporter.getFinishedSpans().filter((s) => attr(s, ATTRIBUTES.pipelineId) === handle.id);
    const count = (name: string, stepId: string) => all.filter((s) => s.name === name && attr(s, ATTRIBUTES.stepId) === stepId).length;
    const short = steps
      .map((s) => ({ step: s.klass as string, id: s.id as string, executions: count(SPAN_NAMES.step, s.id), expected: 1 + attempts.filter((a) => a.step_id === s.id).length, advances: count(SPAN_NAMES.advance, s.id) }))
      .filter((s) => s.executions < s.expected || s.advances < 1);
    throw new Error(`${error.message}; steps short of spans: ${JSON.stringify(short)}; attempts: ${JSON.stringify(attempts)}`);
  });

  const [triggerSpan, ...others] = [spans.find((s) => s.name === SPAN_NAMES.trigger)!, ...spans.filter((s) => s.name !== SPAN_NAMES.trigger)];
  assert.ok(triggerSpan, 'the trigger has a span');
  assert.equal(attr(triggerSpan, ATTRIBUTES.pipeline), 'EnrichAllUsersData');
  assert.equal(triggerSpan.parentSpanContext?.spanId, request.spanContext().spanId, "the trigger span is a child of the caller's span");
  const { traceId, spanId } = triggerSpan.spanContext();
  assert.equal(stored!.trace_context, `00-${traceId}-${spanId}-01`, 'the pipeline stores the trigger span as its trace context');
  for (const span of others) {
    assert.equal(span.spanContext().traceId, traceId, `${span.name} ${attr(span, ATTRIBUTES.step)} is in the trigger's trace`);
    assert.equal(span.parentSpanContext?.spanId, spanId, `${span.name} ${attr(span, ATTRIBUTES.step)} is a child of the trigger span`);
  }

  // Every execution the database recorded has its span, with its outcome, attempt and crash count.
  const executions = others.filter((s) => s.name === SPAN_NAMES.step);
  const outcomes = (outcome: string) => executions.filter((s) => attr(s, ATTRIBUTES.outcome) === outcome);
  assert.equal(executions.length, steps.length + attempts.length, 'one span per execution: every success and every failed or crashed attempt');
  assert.deepEqual(
    outcomes('completed').map((s) => attr(s, ATTRIBUTES.stepId)).sort(),
    steps.map((s) => s.id).sort(),
    'each completed step has one completed execution span',
  );
  assert.equal(outcomes('failed').length, attempts.filter((a) => a.outcome === 'failure').length);
  assert.equal(outcomes('crashed').length, attempts.filter((a) => a.outcome === 'crashed').length);
  const fetchB3 = attempts.find((a) => a.klass === 'FetchB' && a.outcome === 'failure')!;
  const retried = executions.filter((s) => attr(s, ATTRIBUTES.stepId) === fetchB3.step_id).sort((a, b) => Number(attr(a, ATTRIBUTES.attempt)) - Number(attr(b, ATTRIBUTES.attempt)));
  assert.deepEqual(retried.map((s) => [attr(s, ATTRIBUTES.attempt), attr(s, ATTRIBUTES.outcome)]), [[1, 'failed'], [2, 'completed']], 'the retry is the second attempt');
  assert.equal(retried[0]!.status.code, 2, 'a failed attempt has an error status');
  assert.equal(attr(retried[0]!, ATTRIBUTES.errorClass), 'Error');
  const crashedStep = attempts.find((a) => a.klass === 'LoadUserData' && a.outcome === 'crashed')!;
  const rerun = executions.filter((s) => attr(s, ATTRIBUTES.stepId) === crashedStep.step_id).map((s) => [attr(s, ATTRIBUTES.crashCount), attr(s, ATTRIBUTES.outcome)]);
  assert.deepEqual(rerun.sort(), [[0, 'crashed'], [1, 'completed']], 'the crash re-run carries the crash count');

  // Every finished step moved its branch on once: by an advancer, or (a chain) in its own commit.
  const advances = others.filter((s) => s.name === SPAN_NAMES.advance);
  assert.deepEqual(advances.map((s) => attr(s, ATTRIBUTES.stepId)).sort(), steps.map((s) => s.id).sort());
  const moves = new Set(advances.map((s) => attr(s, ATTRIBUTES.outcome)));
  for (const move of ['expand', 'divide', 'fanIn', 'continue', 'finish']) assert.ok(moves.has(move), `an advancement moved a branch by ${move}`);

  // The step's own spans, started in its worker thread, nest under its execution span.
  const inner = readFileSync(threadSpans, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { name: string; traceId: string; parentSpanId?: string });
  const collates = executions.filter((s) => attr(s, ATTRIBUTES.step) === 'Collate' && attr(s, ATTRIBUTES.outcome) === 'completed');
  const mine = inner.filter((s) => s.name === 'collate.inner' && s.traceId === traceId);
  assert.equal(mine.length, collates.length, 'one inner span per Collate execution');
  assert.deepEqual(mine.map((s) => s.parentSpanId).sort(), collates.map((s) => s.spanContext().spanId).sort());
});

test('a revived pipeline goes on in the trace of its trigger', async () => {
  const handle = await client.trigger(FlakyPipeline, { succeedOnAttempt: 0 });
  const first = await handle.wait({ timeoutMs: 30_000 });
  assert.equal(first.status, 'halted');
  await client.revive(handle.id);
  const second = await handle.wait({ timeoutMs: 30_000 });
  assert.notEqual(second.runId, first.runId);
  const spans = await waitFor('the spans of both runs', () => {
    const mine = exporter.getFinishedSpans().filter((s) => attr(s, ATTRIBUTES.pipelineId) === handle.id);
    const runs = new Set(mine.filter((s) => s.name === SPAN_NAMES.step).map((s) => attr(s, ATTRIBUTES.runId)));
    return runs.has(second.runId) && mine.some((s) => s.name === SPAN_NAMES.advance && attr(s, ATTRIBUTES.runId) === second.runId) ? mine : undefined;
  });
  const trigger = spans.find((s) => s.name === SPAN_NAMES.trigger)!;
  const revived = spans.filter((s) => attr(s, ATTRIBUTES.runId) === second.runId);
  assert.ok(revived.length >= 2);
  for (const span of revived) {
    assert.equal(span.spanContext().traceId, trigger.spanContext().traceId);
    assert.equal(span.parentSpanContext?.spanId, trigger.spanContext().spanId);
  }
  const halts = spans.filter((s) => s.name === SPAN_NAMES.advance && attr(s, ATTRIBUTES.haltReason) === 'job_retries_exhausted');
  assert.equal(halts.length, 2, 'each run halted once, and its advancement says why');
});

test("a step reads its execution span's traceparent, to pass the trace on by hand", async () => {
  const handle = await client.trigger(TraceparentPipeline, null);
  const traceparent = await handle.result({ timeoutMs: 30_000 });
  const span = await waitFor('the execution span', () =>
    exporter.getFinishedSpans().find((s) => s.name === SPAN_NAMES.step && attr(s, ATTRIBUTES.pipelineId) === handle.id));
  assert.equal(traceparent, `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
});
