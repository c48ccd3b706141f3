import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testEngine } from '../helpers/engine.js';
import { EnrichAllUsersData } from '../fixtures/pipelines.js';

const { db, engine, client } = await testEngine(import.meta.url);

test("the overview seed's pipeline runs end to end with the inputs the semantics promise", async () => {
  const handle = await client.trigger(EnrichAllUsersData, { count: 7 });
  const result = await handle.result({ timeoutMs: 30_000 });
  const expected = [1, 2, 3, 4, 5, 6, 7].map((id) => `${id}:${id % 3 === 0 ? 'flagged' : 'notified'}`);
  assert.deepEqual(result, { count: 7, results: expected });

  const report = await handle.status();
  assert.equal(report.status, 'completed');
  const steps = await db.sql`select klass, input, output, to_transition, status from step_view where run_id = ${report.runId} order by started_at, id`;
  const byClass = (k: string) => steps.filter((s) => s.klass === k);
  assert.deepEqual(JSON.parse(byClass('QueryUsers')[0]!.input), { count: 7 });
  assert.deepEqual(byClass('LoadUserData').map((s) => JSON.parse(s.input)).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7]);
  // combine input: [FetchA output, FetchB output] in declaration order, for every user
  for (const collate of byClass('Collate')) {
    const [a, b] = JSON.parse(collate.input);
    assert.equal(a.source, 'A');
    assert.equal(b.source, 'B');
    assert.equal(a.id, b.id);
    assert.equal(collate.to_transition, 'combine');
  }
  // divert: the chosen step receives the routing value unchanged
  assert.equal(byClass('NotifyUser').length, 5);
  assert.equal(byClass('FlagForReview').length, 2);
  for (const s of byClass('FlagForReview')) assert.equal(JSON.parse(s.input).route, 'flag');
  // collapse input in expand-element order, although the branches finished out of order
  const collapse = byClass('ReportEnrichment')[0]!;
  assert.equal(collapse.to_transition, 'collapse');
  assert.deepEqual(JSON.parse(collapse.input), expected);
  assert.ok(steps.every((s) => s.status === 'completed'));
  const [{ open }] = await db.sql`select count(*)::int as open from branches where run_id = ${report.runId} and status <> 'completed'`;
  assert.equal(open, 0);
});
