import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { advanceRetryDelayMs, crashDelayMs, jitteredPollMs, outageDelayMs, retryDelayMs } from '../../src/runtime/backoff.js';

// Math.random is pinned to the ends of its range [0, 1) so the jitter bounds are exact, not sampled.
// The upper bound is compared with <=: at the top of the range the float product rounds onto it.
const LOW = 0;
const HIGH = 1 - Number.EPSILON;
function withRandom<T>(value: number, fn: () => T): T {
  mock.method(Math, 'random', () => value);
  try {
    return fn();
  } finally {
    mock.restoreAll();
  }
}
afterEach(() => mock.restoreAll());

const defaults = resolveConfig({}).job_worker.retry_backoff;

describe('jitteredPollMs', () => {
  test('stays within ±25% of the period', () => {
    assert.equal(withRandom(LOW, () => jitteredPollMs(1)), 750);
    assert.equal(withRandom(0.5, () => jitteredPollMs(1)), 1000);
    const high = withRandom(HIGH, () => jitteredPollMs(2));
    assert.ok(high <= 2500 && high > 2499.99, String(high));
    for (let i = 0; i < 1000; i++) {
      const ms = jitteredPollMs(0.2);
      assert.ok(ms >= 150 && ms < 250, String(ms));
    }
  });

  test('actually spreads: pollers started together do not stay in lockstep', () => {
    const samples = new Set(Array.from({ length: 50 }, () => jitteredPollMs(1)));
    assert.ok(samples.size > 40);
  });

  test('0 stays 0, and nothing is negative', () => {
    assert.equal(withRandom(LOW, () => jitteredPollMs(0)), 0);
    assert.equal(withRandom(HIGH, () => jitteredPollMs(0)), 0);
    assert.equal(jitteredPollMs(-1), 0);
  });
});

describe('retryDelayMs', () => {
  const exact = { ...defaults, jitter: 0 };

  test('the first retry waits `initial`; each further one `multiplier` times longer', () => {
    assert.deepEqual([0, 1, 2, 3].map((n) => retryDelayMs(exact, n)), [10_000, 20_000, 40_000, 80_000]);
    assert.deepEqual([0, 1, 2].map((n) => retryDelayMs({ initial: 0.5, multiplier: 3, max: 100, jitter: 0 }, n)), [500, 1500, 4500]);
    assert.equal(retryDelayMs({ initial: 5, multiplier: 1, max: 100, jitter: 0 }, 7), 5000, 'multiplier 1 is a fixed delay');
  });

  test('capped by max', () => {
    const capped = { initial: 10, multiplier: 2, max: 60, jitter: 0 };
    assert.equal(retryDelayMs(capped, 2), 40_000);
    assert.equal(retryDelayMs(capped, 3), 60_000);
    assert.equal(retryDelayMs(capped, 50), 60_000);
    // 2 ** 5000 is Infinity; the cap must still hold.
    assert.equal(retryDelayMs(capped, 5000), 60_000);
    assert.equal(retryDelayMs(exact, 100), 3_600_000, 'default max: one hour');
  });

  test('jitter spreads each wait by ±jitter around the capped value', () => {
    for (const n of [0, 3, 20]) {
      const base = retryDelayMs(exact, n);
      assert.equal(withRandom(LOW, () => retryDelayMs(defaults, n)), base * 0.75);
      assert.equal(withRandom(0.5, () => retryDelayMs(defaults, n)), base);
      const high = withRandom(HIGH, () => retryDelayMs(defaults, n));
      assert.ok(high <= base * 1.25 && high > base * 1.2499, `${n}: ${high}`);
    }
    for (let i = 0; i < 1000; i++) {
      const ms = retryDelayMs({ initial: 1, multiplier: 2, max: 4, jitter: 0.1 }, i % 5);
      const base = Math.min(4, 2 ** (i % 5)) * 1000;
      assert.ok(ms >= base * 0.9 && ms <= base * 1.1, `${i % 5}: ${ms}`);
    }
  });

  test('never negative, even with jitter above 1', () => {
    assert.equal(withRandom(LOW, () => retryDelayMs({ initial: 10, multiplier: 2, max: 60, jitter: 3 }, 0)), 0);
  });
});

describe('crashDelayMs (semantics §3.4)', () => {
  test('with max_crash 10: crashes 1–3 re-run at once, then crash number × 10 s', () => {
    const delays = Array.from({ length: 10 }, (_, i) => crashDelayMs(10, i + 1));
    assert.deepEqual(delays, [0, 0, 0, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000, 100_000]);
  });

  test('the immediate share is floor(max_crash / 3)', () => {
    assert.equal(crashDelayMs(0, 1), 10_000, 'no budget: no immediate re-runs');
    assert.equal(crashDelayMs(2, 1), 10_000);
    assert.equal(crashDelayMs(3, 1), 0);
    assert.equal(crashDelayMs(3, 2), 20_000);
    assert.equal(crashDelayMs(11, 3), 0);
    assert.equal(crashDelayMs(11, 4), 40_000);
    assert.equal(crashDelayMs(12, 4), 0);
    assert.equal(crashDelayMs(12, 5), 50_000);
  });

  test('the step is job_worker.crash_backoff seconds', () => {
    assert.equal(crashDelayMs(10, 4, 2.5), 10_000);
    assert.equal(crashDelayMs(10, 10, 0), 0);
    assert.equal(crashDelayMs(10, 4, resolveConfig({}).job_worker.crash_backoff), 40_000);
  });
});

describe('advanceRetryDelayMs', () => {
  test('grows by doubling from 100 ms', () => {
    assert.deepEqual([0, 1, 2, 3].map(advanceRetryDelayMs), [100, 200, 400, 800]);
  });

  test('caps at 60 s and never decreases', () => {
    let previous = 0;
    for (let errors = 0; errors <= 2000; errors++) {
      const ms = advanceRetryDelayMs(errors);
      assert.ok(ms >= previous && ms <= 60_000, `${errors}: ${ms}`);
      previous = ms;
    }
    assert.equal(advanceRetryDelayMs(9), 51_200);
    assert.equal(advanceRetryDelayMs(10), 60_000);
    assert.equal(advanceRetryDelayMs(2000), 60_000);
  });
});

describe('outageDelayMs', () => {
  test('grows from ~50 ms with ±25% jitter', () => {
    assert.equal(withRandom(0.5, () => outageDelayMs(0)), 50);
    assert.equal(withRandom(0.5, () => outageDelayMs(3)), 400);
    assert.equal(withRandom(LOW, () => outageDelayMs(1)), 75);
  });

  test('caps around 5 s: never above 6.25 s, never below 3.75 s once capped', () => {
    for (const failures of [7, 8, 20, 5000]) {
      assert.equal(withRandom(0.5, () => outageDelayMs(failures)), 5000, String(failures));
      assert.equal(withRandom(LOW, () => outageDelayMs(failures)), 3750);
      assert.ok(withRandom(HIGH, () => outageDelayMs(failures)) <= 6250);
    }
    for (let i = 0; i < 1000; i++) {
      const ms = outageDelayMs(i);
      assert.ok(ms > 0 && ms <= 6250, `${i}: ${ms}`);
    }
  });
});
