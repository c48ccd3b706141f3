import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { routeKey, TransitionError } from '../../src/runtime/route.js';

describe('routeKey: what divert routes on', () => {
  test('a string is the key as is, the empty string and padding included', () => {
    assert.equal(routeKey('success'), 'success');
    assert.equal(routeKey(''), '');
    assert.equal(routeKey(' flag '), ' flag ');
  });

  test('numbers and booleans route on their string form', () => {
    assert.equal(routeKey(1), '1');
    assert.equal(routeKey(0), '0');
    assert.equal(routeKey(-2.5), '-2.5');
    assert.equal(routeKey(true), 'true');
    assert.equal(routeKey(false), 'false');
  });

  test('null means otherwise', () => {
    assert.equal(routeKey(null), null);
  });

  test('{ route } routes on route, whatever else the object carries', () => {
    assert.equal(routeKey({ route: 'flag', id: 3 }), 'flag');
    assert.equal(routeKey({ route: '' }), '');
    // The value divert receives is JSON.parse output, so a keys-only check on own data is enough.
    assert.equal(routeKey(JSON.parse('{"id":1,"route":"later"}')), 'later');
  });

  const unusable: [string, unknown, RegExp][] = [
    ['an array', ['flag'], /got an array/],
    ['an empty array', [], /got an array/],
    ['an object without route', { id: 1 }, /got object/],
    ['a numeric route', { route: 1 }, /got object/],
    ['a null route', { route: null }, /got object/],
    ['a nested route', { route: { name: 'flag' } }, /got object/],
    ['undefined', undefined, /got undefined/],
  ];
  for (const [name, value, got] of unusable) {
    test(`${name} is a TransitionError, not a silent otherwise`, () => {
      assert.throws(
        () => routeKey(value),
        (error: unknown) => {
          assert.ok(error instanceof TransitionError);
          assert.equal(error.name, 'TransitionError');
          assert.match(error.message, /divert needs a string, number, boolean, null or \{ route: string \} output/);
          assert.match(error.message, got);
          return true;
        },
      );
    });
  }
});
