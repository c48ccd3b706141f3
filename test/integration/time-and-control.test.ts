/**
 * Time and control on real PostgreSQL and a real engine: durable delays, waits for signals,
 * cancel, keyed and delayed triggers, triggers inside the caller's transaction and from SQL.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { DuctworkClient } from '../../src/client/client.js';
import type { DuctworkError } from '../../src/errors.js';
import { freshSchema } from '../helpers/db.js';
import { startTestEngine, testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import {
  ApprovalPipeline, CancellablePipeline, DeadlinePipeline, DelayPipeline, GatedOrderPipeline, HoldPipeline, LateApprovalPipeline, OrderPipeline,
  RetryingPipeline, StrictDeadlinePipeline,
} from '../fixtures/time-pipelines.js';

const TIME_APP = new URL('../fixtures/time-pipelines.js', import.meta.url).href;
const { db, client } = await testEngine(import.meta.url, { app: TIME_APP });
const scratch = mkdtempSync(join(tmpdir(), 'ductwork-time-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Seconds between two steps of a run: the first one's finish and the second one's queueing. */
async function gapSeconds(pipelineId: string, first: string, second: string): Promise<number> {
  const [row] = await db.sql`
    select extract(epoch from (b.started_at - a.finished_at))::float8 as gap
    from steps a join steps b on b.run_id = a.run_id join runs r on r.id = a.run_id
    where r.pipeline_id = ${pipelineId} and a.klass = ${first} and b.klass = ${second}`;
  return row!.gap as number;
}

test('a chain with `after` waits durably before its next step, and the status says until when', async () => {
  const handle = await client.trigger(DelayPipeline, { n: 1 });
  const waiting = await waitFor('the delay to show', async () => (await handle.status()).waiting.find((w) => w.kind === 'delay'));
  assert.equal(waiting.step, 'Stamp');
  assert.ok(waiting.until instanceof Date);
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { n: 20 });
  assert.ok((await gapSeconds(handle.id, 'Stamp', 'Later')) >= 1, 'the next step was queued only after the delay');
});

test('status().waiting names each kind of wait: a delay after a delivered signal, and a step waiting for its retry', async () => {
  const approval = await client.trigger(LateApprovalPipeline, { order: 'o-late' });
  await waitFor('the branch to wait for the signal', async () => (await approval.status()).waiting.find((w) => w.kind === 'event'));
  await client.signal(approval.id, 'approved', { approvedBy: 'ada' });
  const delayed = await waitFor('the delay after the signal', async () => (await approval.status()).waiting.find((w) => w.kind === 'delay'));
  assert.equal(delayed.step, 'Finish', 'the step the delay holds back');
  assert.ok(delayed.until!.getTime() > Date.now() + 3_500_000, 'due an hour after the signal');
  await client.cancel(approval.id);

  // A backoff of an hour: the failed step waits for its retry, and says so.
  const slow = await freshSchema(import.meta.url, 'retry');
  const engine = await startTestEngine(slow, { app: TIME_APP, job_worker: { retry_backoff: { initial: 3600, multiplier: 1, jitter: 0 } } });
  try {
    const retrying = await new DuctworkClient({ sql: slow.sql, schema: slow.schema }).trigger(RetryingPipeline, {});
    const retry = await waitFor('the retry to show', async () => (await retrying.status()).waiting.find((w) => w.kind === 'retry'));
    assert.equal(retry.step, 'AlwaysFails');
    assert.ok(retry.until!.getTime() > Date.now() + 3_500_000);
  } finally {
    await engine.stop();
    await slow.drop();
  }
});

test('a step holds its successor with this.runNextAt', async () => {
  const handle = await client.trigger(HoldPipeline, { n: 2, holdMs: 1200 });
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { n: 20 });
  assert.ok((await gapSeconds(handle.id, 'HoldNext', 'Later')) >= 1.2);
});

test('a wait delivers a signal sent before the branch got there, with its payload as the next input', async () => {
  const gate = join(scratch, 'early-gate');
  const handle = await client.trigger(ApprovalPipeline, { order: 'o-1', gate });
  const receipt = await client.signal(handle.id, 'approved', { approvedBy: 'ada' });
  assert.equal(receipt.outcome, 'stored', 'no branch waited yet: the signal is kept');
  writeFileSync(gate, '');
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: true, approvedBy: 'ada', escalated: null });
});

test('a signal to a waiting branch continues it; a keyed duplicate is ignored; finished and unknown targets are typed errors', async () => {
  const handle = await client.trigger(ApprovalPipeline, { order: 'o-2' }, { key: 'order-o-2' });
  await waitFor('the branch to wait', async () => (await handle.status()).waiting.find((w) => w.kind === 'event' && w.event === 'approved'));
  const first = await client.signal({ pipeline: ApprovalPipeline, key: 'order-o-2' }, 'approved', { approvedBy: 'grace' }, { key: 'approval-1' });
  assert.equal(first.outcome, 'delivered');
  assert.equal(first.pipelineId, handle.id);
  const again = await client.signal(handle.id, 'approved', { approvedBy: 'mallory' }, { key: 'approval-1' });
  assert.equal(again.outcome, 'duplicate');
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: true, approvedBy: 'grace', escalated: null });
  await assert.rejects(client.signal(handle.id, 'approved', {}), (e: DuctworkError) => e.code === 'signal_target_finished');
  await assert.rejects(client.signal('00000000-0000-7000-8000-000000000000', 'approved', {}), (e: DuctworkError) => e.code === 'signal_target_unknown');
  await assert.rejects(client.signal({ pipeline: 'ApprovalPipeline', key: 'nope' }, 'approved', {}), (e: DuctworkError) => e.code === 'signal_target_unknown');
  await assert.rejects(client.signal(handle.id, 'bad event!', {}), (e: DuctworkError) => e.code === 'signal_invalid');
  await assert.rejects(client.signal(handle.id, 'approved', { n: 1n }), (e: DuctworkError) => e.code === 'signal_invalid');
});

test('a wait that times out runs its onTimeout step, or halts with wait_timed_out without one', async () => {
  const fallback = await client.trigger(DeadlinePipeline, { order: 'o-3' });
  assert.deepEqual(await fallback.result({ timeoutMs: 15_000 }), { done: true, approvedBy: null, escalated: 'o-3' });
  const strict = await client.trigger(StrictDeadlinePipeline, { order: 'o-4' });
  const report = await strict.wait({ timeoutMs: 15_000 });
  assert.equal(report.status, 'halted');
  assert.equal(report.halts[0]!.reason, 'wait_timed_out');
  assert.match(report.halts[0]!.detail!, /no "approved" signal came within 1 s/);
});

test('cancel aborts the running step, runs onHalt once with reasons [cancelled], and starts nothing more', async () => {
  const marker = join(scratch, 'aborted');
  const handle = await client.trigger(CancellablePipeline, { marker });
  await waitFor('the step to run', async () => (await handle.status()).steps.in_progress === 1);
  const report = await client.cancel(handle.id, { reason: 'order withdrawn' });
  assert.equal(report.pipeline, 'CancellablePipeline');
  await waitFor('the step to see its signal abort', () => existsSync(marker));
  assert.match(readFileSync(marker, 'utf8'), /was cancelled/);
  const status = await handle.wait({ timeoutMs: 5_000 });
  assert.equal(status.status, 'cancelled');
  assert.equal(status.cancelReason, 'order withdrawn');
  const onHalt = await waitFor('onHalt to run', async () => {
    const rows = await db.sql`select s.output from steps s join runs r on r.id = s.run_id where r.pipeline_id = ${handle.id} and s.node = '$on_halt'`;
    return rows.length > 0 ? rows : undefined;
  });
  assert.equal(onHalt.length, 1);
  assert.deepEqual(JSON.parse(onHalt[0]!.output as string).reasons, ['cancelled']);
  assert.equal(JSON.parse(onHalt[0]!.output as string).cancelReason, 'order withdrawn');
  const never = await db.sql`select count(*)::int as n from step_view v join runs r on r.id = v.run_id where r.pipeline_id = ${handle.id} and v.klass = 'Never'`;
  assert.equal(never[0]!.n, 0);
  await assert.rejects(handle.result(), (e: DuctworkError) => e.code === 'pipeline_cancelled');
  await assert.rejects(client.cancel(handle.id), (e: DuctworkError) => e.code === 'cancel_error');
});

test('revive of a cancelled pipeline resumes it where it stopped', async () => {
  const handle = await client.trigger(ApprovalPipeline, { order: 'o-5' });
  await waitFor('the branch to wait', async () => (await handle.status()).waiting.some((w) => w.kind === 'event'));
  await client.cancel(handle.id);
  await assert.rejects(client.signal(handle.id, 'approved', { approvedBy: 'x' }), (e: DuctworkError) => e.code === 'signal_target_finished');
  await client.revive(handle.id);
  await waitFor('the branch to wait again', async () => (await handle.status()).waiting.some((w) => w.kind === 'event'));
  await client.signal(handle.id, 'approved', { approvedBy: 'linus' });
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: true, approvedBy: 'linus', escalated: null });
  const submits = await db.sql`select count(*)::int as n from steps s join runs r on r.id = s.run_id where r.pipeline_id = ${handle.id} and s.klass = 'Submit'`;
  assert.equal(submits[0]!.n, 1, 'the completed step did not run again');
});

test('a keyed trigger returns the existing pipeline; runAt and delay start later', async () => {
  const first = await client.trigger(DelayPipeline, { n: 1 }, { key: 'k-1' });
  const second = await client.trigger(DelayPipeline, { n: 99 }, { key: 'k-1' });
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.id, first.id);
  const delayed = await client.trigger(HoldPipeline, { n: 3, holdMs: 0 }, { delay: '1s' });
  const start = await waitFor('the delayed start to show', async () => (await delayed.status()).waiting.find((w) => w.kind === 'start'));
  assert.equal(start.step, 'HoldNext');
  await delayed.result({ timeoutMs: 15_000 });
  const [row] = await db.sql`
    select extract(epoch from (s.finished_at - p.created_at))::float8 as after from steps s join runs r on r.id = s.run_id
    join pipelines p on p.id = r.pipeline_id where p.id = ${delayed.id} and s.klass = 'HoldNext'`;
  assert.ok((row!.after as number) >= 1);
  await assert.rejects(client.trigger(DelayPipeline, { n: 1 }, { delay: 'soon' }), (e: DuctworkError) => e.code === 'trigger_options_invalid');
  await assert.rejects(client.trigger(DelayPipeline, { n: 1 }, { key: '' }), (e: DuctworkError) => e.code === 'trigger_options_invalid');
});

test("a trigger inside the caller's transaction commits and rolls back with it, on a pool with no Ductwork settings", async () => {
  const plain = postgres(db.url, { max: 2, onnotice: () => {} });
  after(() => plain.end());
  await assert.rejects(plain.begin(async (tx) => {
    await client.trigger(DelayPipeline, { n: 1 }, { tx: tx as never, key: 'rolled-back' });
    throw new Error('the order failed');
  }), /the order failed/);
  assert.equal((await db.sql`select count(*)::int as n from pipelines where key = 'rolled-back'`)[0]!.n, 0);
  const handle = await plain.begin(async (tx) => {
    const h = await client.trigger(DelayPipeline, { n: 4 }, { tx: tx as never });
    const [path] = await tx`select current_setting('search_path') as path`;
    assert.doesNotMatch(path!.path as string, new RegExp(db.schema), 'the caller keeps its search_path');
    return h;
  });
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { n: 50 });
});

test('trigger_pipeline() in SQL starts a pipeline from any driver', async () => {
  const plain = postgres(db.url, { max: 1, onnotice: () => {} });
  after(() => plain.end());
  const [row] = await plain.unsafe(`select "${db.schema}".trigger_pipeline('DelayPipeline', '{"n": 5}', 'sql-key') as id`);
  const handle = client.handle(row!.id as string);
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { n: 60 });
  const [again] = await plain.unsafe(`select "${db.schema}".trigger_pipeline('DelayPipeline', '{"n": 5}', 'sql-key') as id`);
  assert.equal(again!.id, row!.id);
  await assert.rejects(plain.unsafe(`select "${db.schema}".trigger_pipeline('NoSuchPipeline', '{}')`), /unknown pipeline NoSuchPipeline/);
});

test('a child pipeline runs as its own pipeline, linked to its parent, which continues with its result', async () => {
  const handle = await client.trigger(OrderPipeline, { order: 'c-1', amount: 42 });
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { receipt: 'c-1:42' });
  const children = await db.sql`select id, klass, status, parent_step_id from pipelines where parent_pipeline_id = ${handle.id}`;
  assert.equal(children.length, 1);
  assert.equal(children[0]!.klass, 'ChargeCardPipeline');
  assert.equal(children[0]!.status, 'completed');
  assert.deepEqual(await client.result(children[0]!.id as string), { charged: 42, order: 'c-1' });
  const [node] = await db.sql`select s.output from steps s join runs r on r.id = s.run_id where r.pipeline_id = ${handle.id} and s.klass = 'ChargeCardPipeline'`;
  assert.deepEqual(JSON.parse(node!.output as string), { charged: 42, order: 'c-1' }, 'the child node records the result');
});

test('a child that halts halts its parent branch with child_halted', async () => {
  const handle = await client.trigger(OrderPipeline, { order: 'c-2', amount: -1 });
  const report = await handle.wait({ timeoutMs: 20_000 });
  assert.equal(report.status, 'halted');
  assert.equal(report.halts[0]!.reason, 'child_halted');
  assert.match(report.halts[0]!.detail!, /child pipeline .* halted/);
});

test('cancelling a parent cancels its child; reviving the parent resumes both', async () => {
  const gate = join(scratch, 'child-gate');
  const handle = await client.trigger(GatedOrderPipeline, { order: 'c-3', gate });
  const child = await waitFor('the child to run', async () => {
    const [row] = await db.sql`select id from pipelines where parent_pipeline_id = ${handle.id}`;
    return row && (await client.status(row.id as string)).steps.in_progress === 1 ? (row.id as string) : undefined;
  });
  assert.ok((await handle.status()).waiting.some((w) => w.kind === 'event' && w.event === `child:${child}`), 'the parent waits for its child');
  await client.cancel(handle.id);
  assert.equal((await client.status(child)).status, 'cancelled');
  await client.revive(handle.id);
  assert.equal((await client.status(child)).status, 'in_progress');
  writeFileSync(gate, '');
  assert.deepEqual(await handle.result({ timeoutMs: 20_000 }), { receipt: 'c-3:5' });
});
