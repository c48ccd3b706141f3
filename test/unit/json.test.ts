import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeJson } from '../../src/definition/json.js';
import { ConfigError, serializeError } from '../../src/errors.js';

function encodes(value: unknown): string {
  const result = encodeJson(value);
  if (!result.ok) assert.fail(`expected a value to encode, got ${JSON.stringify(result.problem)}`);
  return result.text;
}

function rejects(value: unknown, path: string, reason: RegExp): void {
  const result = encodeJson(value);
  assert.ok(!result.ok, 'expected a problem, got text');
  assert.equal(result.problem.path, path);
  assert.match(result.problem.reason, reason);
}

describe('encodeJson accepts JSON values', () => {
  const values: [string, unknown][] = [
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['a negative fraction', -1.5],
    ['the largest double', Number.MAX_VALUE],
    ['an empty string', ''],
    ['unicode and quotes', 'naïve "quoted" \u2028 line'],
    ['an empty array', []],
    ['an empty object', {}],
    ['nested', { items: [1, 'two', { three: [null, true] }], meta: { ok: false } }],
  ];
  for (const [name, value] of values) {
    test(name, () => {
      const text = encodes(value);
      assert.equal(text, JSON.stringify(value));
      assert.deepEqual(JSON.parse(text), value, 'round trip unchanged');
    });
  }

  test('an object without a prototype is a plain object', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    assert.equal(encodes(bare), '{"a":1}');
  });

  test('a Date encodes as its ISO string, at any depth', () => {
    const when = new Date('2024-05-06T07:08:09.010Z');
    assert.equal(encodes(when), '"2024-05-06T07:08:09.010Z"');
    assert.equal(encodes({ at: [when] }), '{"at":["2024-05-06T07:08:09.010Z"]}');
  });

  test('top-level undefined is null, so a step that returns nothing hands null on', () => {
    assert.equal(encodes(undefined), 'null');
  });

  test('undefined object properties are omitted, at any depth', () => {
    assert.equal(encodes({ a: 1, b: undefined, c: { d: undefined, e: [{ f: undefined }] } }), '{"a":1,"c":{"e":[{}]}}');
  });

  test('a shared object that is not a cycle is fine', () => {
    const shared = { id: 7 };
    assert.equal(encodes({ x: shared, y: shared, list: [shared, [shared]] }), '{"x":{"id":7},"y":{"id":7},"list":[{"id":7},[{"id":7}]]}');
    const list = [1];
    assert.equal(encodes([list, list]), '[[1],[1]]');
  });
});

describe('encodeJson rejects what JSON.stringify would silently change', () => {
  test('bigint', () => rejects(10n, '$', /bigint has no JSON form/));
  test('a function inside an object', () => rejects({ ok: 1, callback: () => 1 }, '$.callback', /function has no JSON form/));
  test('a symbol inside an array', () => rejects([1, Symbol('s')], '$[1]', /symbol has no JSON form/));
  test('NaN', () => rejects({ ratio: Number.NaN }, '$.ratio', /NaN is not a finite number/));
  test('Infinity and -Infinity', () => {
    rejects([Number.POSITIVE_INFINITY], '$[0]', /Infinity is not a finite number/);
    rejects({ low: Number.NEGATIVE_INFINITY }, '$.low', /-Infinity is not a finite number/);
  });
  test('undefined inside an array (JSON would make it null)', () => rejects({ items: [1, undefined] }, '$.items[1]', /undefined has no JSON form here/));
  test('a hole in a sparse array', () => rejects([1, , 3], '$[1]', /undefined/));
  test('an invalid Date', () => rejects({ items: [{}, {}, { when: new Date('nope') }] }, '$.items[2].when', /invalid Date/));

  test('a cycle through an object', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node.child = { parent: node };
    rejects({ root: node }, '$.root.child.parent', /cycle/);
  });
  test('a cycle through an array', () => {
    const list: unknown[] = [1];
    list.push(list);
    rejects(list, '$[1]', /cycle/);
  });

  test('class instances other than Date, named', () => {
    rejects({ m: new Map([['a', 1]]) }, '$.m', /a Map instance is not a plain JSON object/);
    rejects([new Set([1])], '$[0]', /a Set instance/);
    class Money {
      constructor(readonly cents: number) {}
      toJSON() {
        return this.cents;
      }
    }
    // Even with toJSON: the step's next input would be a number, not a Money.
    rejects({ price: new Money(5) }, '$.price', /a Money instance/);
    rejects(new Uint8Array(2), '$', /a Uint8Array instance/);
    rejects({ n: new Number(3) }, '$.n', /a Number instance/);
    rejects({ e: new Error('x') }, '$.e', /a Error instance/);
  });

  test('the first problem in document order is the one reported', () => {
    rejects({ a: [1, 2, { b: 1n }], z: () => 0 }, '$.a[2].b', /bigint/);
  });
});

describe('serializeError', () => {
  test('an Error: name, message, stack; no code', () => {
    const error = new TypeError('bad input');
    const s = serializeError(error);
    assert.equal(s.name, 'TypeError');
    assert.equal(s.message, 'bad input');
    assert.equal(s.stack, error.stack);
    assert.match(s.stack ?? '', /TypeError: bad input/);
    assert.equal(s.code, undefined);
  });

  test('a DuctworkError keeps its code; a non-string code is dropped', () => {
    assert.deepEqual(
      { ...serializeError(new ConfigError('config_invalid', 'nope')), stack: undefined },
      { name: 'ConfigError', message: 'nope', stack: undefined, code: 'config_invalid' },
    );
    const system = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    assert.equal(serializeError(system).code, 'ENOENT');
    const numeric = Object.assign(new Error('http'), { code: 503 });
    assert.equal(serializeError(numeric).code, undefined);
  });

  test('an Error with an empty name falls back to its class name', () => {
    class Timeout extends Error {}
    const error = new Timeout('slow');
    error.name = '';
    assert.equal(serializeError(error).name, 'Timeout');
  });

  test('the result crosses a thread boundary unchanged', () => {
    const s = serializeError(Object.assign(new RangeError('r'), { code: 'E_RANGE', extra: () => 1 }));
    assert.deepEqual(structuredClone(s), s);
  });

  test('non-Error throws become NonError with a readable message', () => {
    assert.deepEqual(serializeError('plain string'), { name: 'NonError', message: 'plain string' });
    assert.deepEqual(serializeError({ reason: 'x', n: 1 }), { name: 'NonError', message: '{"reason":"x","n":1}' });
    assert.deepEqual(serializeError(42), { name: 'NonError', message: '42' });
    assert.deepEqual(serializeError(null), { name: 'NonError', message: 'null' });
    assert.deepEqual(serializeError(undefined), { name: 'NonError', message: 'undefined' });
    assert.deepEqual(serializeError(Symbol('boom')), { name: 'NonError', message: 'Symbol(boom)' });
    // JSON.stringify throws on these; the fallback still yields a string.
    assert.deepEqual(serializeError(5n), { name: 'NonError', message: '5' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.deepEqual(serializeError(cyclic), { name: 'NonError', message: '[object Object]' });
  });
});
