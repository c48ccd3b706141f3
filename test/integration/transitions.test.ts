import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';
import {
  BadExpandPipeline,
  ChainPipeline,
  DivertPipeline,
  DivideBlockPipeline,
  DividePipeline,
  ExpandPipeline,
  NestedExpandPipeline,
  OpenDividePipeline,
  OpenExpandPipeline,
} from '../fixtures/pipelines.js';

const haltDir = mkdtempSync(join(tmpdir(), 'ductwork-halt-'));
const haltFile = join(haltDir, 'halts.jsonl');
process.env.DUCTWORK_TEST_HALT_FILE = haltFile;
const { db, engine, client } = await testEngine(import.meta.url);
after(() => {
  rmSync(haltDir, { recursive: true, force: true });
});

async function stepsOf(runId: string) {
  return db.sql`select s.klass, s.input, s.output, s.to_transition, s.status, s.branch_id
                from step_view s where s.run_id = ${runId} order by s.started_at, s.id`;
}
async function branchesOf(runId: string) {
  return db.sql`select id, parent_branch_id, status, frames from branches where run_id = ${runId} order by started_at, id`;
}

describe('chain', () => {
  test('runs each step on the same branch with the previous output', async () => {
    const handle = await client.trigger(ChainPipeline, 3);
    assert.equal(await handle.result({ timeoutMs: 15_000 }), 14);
    const { runId } = await handle.status();
    const steps = await stepsOf(runId);
    assert.deepEqual(steps.map((s) => [s.klass, JSON.parse(s.input), s.to_transition]), [
      ['Double', 3, 'start'],
      ['AddOne', 6, 'chain'],
      ['Double', 7, 'chain'],
    ]);
    assert.equal(new Set(steps.map((s) => s.branch_id)).size, 1);
    const branches = await branchesOf(runId);
    assert.equal(branches.length, 1);
    assert.equal(branches[0]!.status, 'completed');
  });
});

describe('divide and combine', () => {
  test('every target gets the same input on its own branch; combine gets outputs in declaration order', async () => {
    const handle = await client.trigger(DividePipeline, 5);
    assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { values: [11, 20, 11] });
    const { runId } = await handle.status();
    const steps = await stepsOf(runId);
    const targets = steps.filter((s) => s.to_transition === 'divide');
    assert.equal(targets.length, 3);
    for (const t of targets) assert.equal(JSON.parse(t.input), 10);
    assert.equal(new Set(targets.map((t) => t.branch_id)).size, 3);
    const combine = steps.find((s) => s.to_transition === 'combine')!;
    assert.deepEqual(JSON.parse(combine.input), [11, 20, 11]);
    const branches = await branchesOf(runId);
    const root = branches[0]!;
    assert.equal(branches.length, 5); // root, three children, the combine branch
    assert.equal(branches.filter((b) => b.parent_branch_id === root.id).length, 4);
    assert.ok(branches.every((b) => b.status === 'completed'));
    const [fanout] = await db.sql`select kind, width, arrived, fired_branch_id from fanouts where run_id = ${runId}`;
    assert.deepEqual({ ...fanout, fired_branch_id: Boolean(fanout!.fired_branch_id) }, { kind: 'divide', width: 3, arrived: 3, fired_branch_id: true });
  });

  test('the block form continues each lane on its own before the combine', async () => {
    const handle = await client.trigger(DivideBlockPipeline, 2);
    // lane 1: AddOne(4)=5, Double=10, AddOne=11; lane 2: Double(4)=8
    assert.equal(await handle.result({ timeoutMs: 15_000 }), 19);
    const { runId } = await handle.status();
    const sum = (await stepsOf(runId)).find((s) => s.klass === 'Sum')!;
    assert.deepEqual(JSON.parse(sum.input), [11, 8]);
  });

  test('a divide never combined ends on several branches; the result lists their outputs', async () => {
    const handle = await client.trigger(OpenDividePipeline, 3);
    assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), [7, 12]);
  });
});

describe('expand and collapse', () => {
  test('one branch per element; collapse gets outputs in element order', async () => {
    const handle = await client.trigger(ExpandPipeline, 6);
    assert.equal(await handle.result({ timeoutMs: 15_000 }), 36); // sum of 2i+1 for i < 6
    const { runId } = await handle.status();
    const steps = await stepsOf(runId);
    const expanded = steps.filter((s) => s.to_transition === 'expand');
    assert.deepEqual(expanded.map((s) => JSON.parse(s.input)).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
    assert.equal(new Set(expanded.map((s) => s.branch_id)).size, 6);
    const collapse = steps.find((s) => s.to_transition === 'collapse')!;
    assert.deepEqual(JSON.parse(collapse.input), [1, 3, 5, 7, 9, 11]);
  });

  test('an empty expand still fires its collapse, with []', async () => {
    const handle = await client.trigger(ExpandPipeline, 0);
    assert.equal(await handle.result({ timeoutMs: 15_000 }), 0);
    const { runId } = await handle.status();
    const collapse = (await stepsOf(runId)).find((s) => s.to_transition === 'collapse')!;
    assert.equal(collapse.input, '[]');
  });

  test('nested expands collapse per cohort, including an empty inner cohort', async () => {
    // Range(3) = [0,1,2]; inner ranges [], [0], [0,1]; doubled; inner sums 0, 0, 2; outer sum 2
    const handle = await client.trigger(NestedExpandPipeline, 3);
    assert.equal(await handle.result({ timeoutMs: 15_000 }), 2);
    const { runId } = await handle.status();
    const sums = (await stepsOf(runId)).filter((s) => s.klass === 'Sum');
    assert.equal(sums.length, 4); // three inner collapses and the outer one
    const outer = sums.find((s) => s.status === 'completed' && JSON.parse(s.output) === 2 && JSON.parse(s.input).length === 3)!;
    assert.deepEqual(JSON.parse(outer.input), [0, 0, 2]);
  });

  test('an expand never collapsed ends on one branch per element', async () => {
    const handle = await client.trigger(OpenExpandPipeline, 3);
    assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), [0, 2, 4]);
  });

  test('expanding something that is not an array halts at once with a clear reason', async () => {
    const handle = await client.trigger(BadExpandPipeline, null);
    const report = await handle.wait({ timeoutMs: 15_000 });
    assert.equal(report.status, 'halted');
    assert.equal(report.halts.length, 1);
    assert.equal(report.halts[0]!.reason, 'transition_invalid');
    assert.match(report.halts[0]!.detail!, /expand needs an array from step NotAnArray; it returned object/);
    await assert.rejects(handle.result(), (error: Error & { code?: string }) => error.code === 'pipeline_halted');
    const lines = await waitFor('the on_halt handler', () => {
      try {
        return readFileSync(haltFile, 'utf8').trim().split('\n').filter((l) => l.includes(handle.id));
      } catch {
        return undefined;
      }
    });
    assert.deepEqual(JSON.parse(lines[0]!).reasons, ['transition_invalid']);
  });
});

describe('divert and converge', () => {
  test('routes on the output, passes it unchanged, and converges without waiting', async () => {
    const even = await client.trigger(DivertPipeline, 4);
    const odd = await client.trigger(DivertPipeline, 3);
    const none = await client.trigger(DivertPipeline, -1);
    assert.equal(await even.result({ timeoutMs: 15_000 }), 'label:label:even');
    assert.equal(await odd.result({ timeoutMs: 15_000 }), 'label:label:odd');
    assert.equal(await none.result({ timeoutMs: 15_000 }), 'label:other:null');
    const steps = await stepsOf((await even.status()).runId);
    assert.deepEqual(steps.map((s) => [s.klass, s.to_transition, JSON.parse(s.input)]), [
      ['Classify', 'start', 4],
      ['Label', 'divert', 'even'],
      ['Label', 'converge', 'label:even'],
    ]);
    assert.equal(new Set(steps.map((s) => s.branch_id)).size, 1);
  });
});
