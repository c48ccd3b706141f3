import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { testEngine } from '../helpers/engine.js';
import { ExpandPipeline, FlakyPipeline } from '../fixtures/pipelines.js';

// The client's read API against real runs: data, attempts and errors of each step, branches,
// runs, the pipelines list with its filters, and paging.
const { client } = await testEngine(import.meta.url, { job_worker: { max_retry: 1 } });

test("a run's steps carry their input, output, status, timings and every attempt with its error", async () => {
  const handle = await client.trigger(FlakyPipeline, { succeedOnAttempt: 2 });
  await handle.result({ timeoutMs: 30_000 });
  const { items, next } = await client.steps(handle.id);
  assert.equal(next, undefined);
  assert.deepEqual(items.map((s) => [s.step, s.status, s.transition]), [['Flaky', 'completed', 'start'], ['Done', 'completed', 'chain']]);
  const [flaky, done] = items as [typeof items[0], typeof items[0]];
  assert.deepEqual(flaky.input, { succeedOnAttempt: 2 });
  assert.deepEqual(flaky.output, { attempt: 2 });
  assert.deepEqual(done.input, { attempt: 2 }, "the next step's input is the output it got");
  assert.equal(flaky.retryCount, 1);
  assert.deepEqual(flaky.attempts.map((a) => a.outcome), ['failure', 'success']);
  assert.deepEqual(flaky.attempts[0]!.error, { class: 'Error', code: null, message: 'flaky failure on attempt 1' });
  assert.deepEqual(flaky.lastError, flaky.attempts[0]!.error);
  assert.ok(flaky.attempts[0]!.startedAt! <= flaky.attempts[0]!.finishedAt!);
  assert.ok(flaky.finishedAt! >= flaky.startedAt);
  assert.equal(done.lastError, null);
  assert.deepEqual(done.attempts.map((a) => [a.outcome, a.error]), [['success', null]]);
});

test('a halted run: its branch with the halt reason, its failed step, filters by status, and its runs after a revive', async () => {
  const handle = await client.trigger(FlakyPipeline, { succeedOnAttempt: 0 });
  const report = await handle.wait({ timeoutMs: 30_000 });
  assert.equal(report.status, 'halted');
  const branches = await client.branches(handle.id);
  assert.deepEqual(branches.items.map((b) => [b.status, b.haltReason, b.steps]), [['halted', 'job_retries_exhausted', 1]]);
  const failed = await client.steps(handle.id, { status: 'failed' });
  assert.equal(failed.items.length, 1);
  assert.equal(failed.items[0]!.output, undefined);
  assert.deepEqual(failed.items[0]!.attempts.map((a) => a.outcome), ['failure', 'failure']);
  assert.match(failed.items[0]!.lastError!.message, /flaky failure on attempt 2/);
  // The on_halt handler ran (a job queued when the run halted, so it may finish after the halt is seen): a step of no branch.
  const completed = await waitFor('the on_halt step', async () => {
    const items = (await client.steps(handle.id, { status: 'completed' })).items;
    return items.length > 0 ? items : undefined;
  });
  assert.deepEqual(completed.map((s) => [s.step, s.branchId]), [['RecordHalt', null]]);

  await client.revive(handle.id);
  await handle.wait({ timeoutMs: 30_000 });
  const runs = await client.runs(handle.id);
  assert.equal(runs.items.length, 2);
  assert.equal(runs.items[1]!.id, report.runId, 'newest first: the revived run, then the first');
  assert.ok(runs.items.every((r) => r.status === 'halted' && r.haltedAt !== null && r.completedAt === null));
  // The earlier run stays readable by its id.
  const earlier = await client.steps(handle.id, { runId: report.runId });
  assert.deepEqual(earlier.items.map((s) => [s.step, s.attempts.length]), [['Flaky', 2], ['RecordHalt', 1]]);
  const other = await client.trigger(FlakyPipeline, { succeedOnAttempt: 1 });
  await assert.rejects(client.steps(other.id, { runId: report.runId }), { code: 'pipeline_not_found' });
});

test('steps and branches are paged, optionally by branch and node', async () => {
  const handle = await client.trigger(ExpandPipeline, 5);
  await handle.result({ timeoutMs: 30_000 });
  const pages: string[][] = [];
  let offset: number | undefined = 0;
  while (offset !== undefined) {
    const page = await client.steps(handle.id, { limit: 3, offset });
    pages.push(page.items.map((s) => s.id));
    offset = page.next;
  }
  const all = (await client.steps(handle.id, { limit: 500 })).items;
  assert.deepEqual(pages.flat(), all.map((s) => s.id), 'the pages together are the whole list, in order, without repeats');
  assert.equal(pages.length, Math.ceil(all.length / 3));
  const branches = await client.branches(handle.id, { limit: 2 });
  assert.equal(branches.items.length, 2);
  assert.equal(branches.next, 2);
  const member = (await client.branches(handle.id, { limit: 500 })).items.find((b) => b.parentBranchId !== null)!;
  const ofMember = await client.steps(handle.id, { branchId: member.id });
  assert.ok(ofMember.items.length >= 1 && ofMember.items.every((s) => s.branchId === member.id));
  const node = all.at(-1)!.node;
  assert.deepEqual((await client.steps(handle.id, { node })).items.map((s) => s.id), all.filter((s) => s.node === node).map((s) => s.id));
});

test('pipelines are listed by class, status, time window and id prefix, newest first, paged', async () => {
  const start = new Date(Date.now() - 1000);
  const first = await client.trigger(FlakyPipeline, { succeedOnAttempt: 1 });
  const second = await client.trigger(FlakyPipeline, { succeedOnAttempt: 1 });
  await second.result({ timeoutMs: 30_000 });
  await first.result({ timeoutMs: 30_000 });
  const mine = await client.listPipelines({ pipeline: FlakyPipeline, since: start, limit: 500 });
  assert.deepEqual(mine.items.slice(0, 2).map((p) => p.id), [second.id, first.id]);
  assert.ok(mine.items.every((p) => p.pipeline === 'FlakyPipeline'));
  assert.deepEqual((await client.listPipelines({ pipeline: 'FlakyPipeline', since: start, limit: 1 })).items.map((p) => p.id), [second.id]);
  assert.equal((await client.listPipelines({ pipeline: 'FlakyPipeline', since: start, limit: 1 })).next, 1);
  assert.deepEqual((await client.listPipelines({ pipeline: 'FlakyPipeline', since: start, limit: 1, offset: 1 })).items.map((p) => p.id), [first.id]);
  assert.equal((await client.listPipelines({ until: start, pipeline: 'FlakyPipeline', within: '1h' })).items.some((p) => p.id === first.id), false);
  assert.ok((await client.listPipelines({ status: 'halted' })).items.every((p) => p.status === 'halted'));
  assert.ok((await client.listPipelines({ status: 'halted' })).items.length >= 1);
  assert.deepEqual((await client.listPipelines({ idPrefix: first.id.slice(0, 13) })).items.map((p) => p.id).includes(first.id), true);
  assert.deepEqual((await client.listPipelines({ idPrefix: first.id })).items.map((p) => p.id), [first.id]);
  await assert.rejects(client.listPipelines({ limit: 0 }), { code: 'read_invalid' });
  await assert.rejects(client.listPipelines({ idPrefix: 'xyz' }), { code: 'read_invalid' });
  await assert.rejects(client.steps('not-an-id'), { code: 'pipeline_not_found' });
  await assert.rejects(client.steps('01000000-0000-7000-8000-000000000000'), { code: 'pipeline_not_found' });
});
