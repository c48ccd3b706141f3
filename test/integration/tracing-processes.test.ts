import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTRIBUTES, SPAN_NAMES } from '../../src/observe/tracing.js';
import { testDatabase } from '../helpers/db.js';
import { spawnEngine } from '../helpers/spawn-engine.js';
import { waitFor } from '../helpers/wait.js';
import { SleepyPipeline } from '../fixtures/pipelines.js';

// The trace crosses processes: triggered here (in-memory SDK), run by an engine process that is
// killed mid-step, finished by another; both engines have an SDK writing spans to a file.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const dir = mkdtempSync(join(tmpdir(), 'ductwork-tracing-processes-'));
const file = join(dir, 'spans.jsonl');
const { db, client } = await testDatabase(import.meta.url);
after(async () => {
  await provider.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

interface FileSpan { name: string; traceId: string; spanId: string; parentSpanId?: string; attributes: Record<string, unknown>; pid: number }
const spansInFile = (): FileSpan[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FileSpan) : []);

test('a step killed with its process is re-run by another engine in the same trace, its crash counted', async () => {
  const env = { DUCTWORK_TEST_THREAD_SPANS: file, DUCTWORK_TEST_PROCESS_SPANS: '1' };
  const options = { pipelines: ['SleepyPipeline'] };
  const victim = await spawnEngine(db, options, env);
  const handle = await client.trigger(SleepyPipeline, { ms: 1500 });
  const { runId } = await handle.status();
  await waitFor('the victim to claim the step', async () =>
    (await db.sql`select 1 from jobs where run_id = ${runId} and process_id = ${victim.processId} and claimed_at is not null`).length > 0);
  victim.child.kill('SIGKILL');
  await victim.exited;
  const survivor = await spawnEngine(db, options, env);
  try {
    assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { done: { ms: 1500 } });
  } finally {
    await survivor.stop();
  }

  const trigger = exporter.getFinishedSpans().find((s) => s.name === SPAN_NAMES.trigger && s.attributes[ATTRIBUTES.pipelineId] === handle.id)!;
  assert.ok(trigger);
  const mine = spansInFile().filter((s) => s.attributes[ATTRIBUTES.pipelineId] === handle.id);
  const steps = mine.filter((s) => s.name === SPAN_NAMES.step);
  assert.deepEqual(steps.map((s) => [s.attributes[ATTRIBUTES.step], s.attributes[ATTRIBUTES.crashCount], s.attributes[ATTRIBUTES.outcome]]), [
    ['Sleepy', 1, 'completed'],
    ['Done', 0, 'completed'],
  ], 'the killed attempt left no span; its re-run says it followed a crash');
  assert.ok(mine.every((s) => s.pid === survivor.child.pid));
  assert.ok(mine.some((s) => s.name === SPAN_NAMES.advance));
  for (const span of mine) {
    assert.equal(span.traceId, trigger.spanContext().traceId, `${span.name} is in the trigger's trace`);
    assert.equal(span.parentSpanId, trigger.spanContext().spanId, `${span.name} is a child of the trigger span`);
  }
});
