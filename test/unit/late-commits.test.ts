import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LateCommitLooks } from '../../src/runtime/late-commits.js';

test('after a failed statement a loop looks again at 2 s, 10 s and once the call timeout has passed, each once', () => {
  let now = 1000;
  const looks = new LateCommitLooks(60_000, () => now);
  assert.equal(looks.due(), false, 'nothing is due before any failure');
  looks.failed();
  const dueAt = (ms: number) => {
    now = 1000 + ms;
    return looks.due();
  };
  assert.deepEqual([dueAt(1000), dueAt(2001), dueAt(3000), dueAt(10_001), dueAt(30_000), dueAt(62_001), dueAt(120_000)], [false, true, false, true, false, true, false]);
});

test('a new failure schedules the looks again from its own time', () => {
  let now = 0;
  const looks = new LateCommitLooks(10_000, () => now);
  looks.failed();
  now = 5000;
  looks.failed();
  now = 6000;
  assert.equal(looks.due(), false, 'the first failure\'s 2 s look was replaced');
  now = 7001;
  assert.equal(looks.due(), true);
});
