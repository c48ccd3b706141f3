import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyDbError } from '../../src/db/classify-error.js';
import { DeadlineExceeded } from '../../src/db/connect.js';

const withCode = (code: string) => Object.assign(new Error(code), { code });

test('connection loss, shutdown, serialization, deadlock, lock timeout and our own cancel are transient', () => {
  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
    '08000', '08003', '08006', '57P01', '57P02', '57P03', '40001', '40P01', '55P03', '57014']) {
    assert.equal(classifyDbError(withCode(code)), 'transient', code);
  }
  assert.equal(classifyDbError(new DeadlineExceeded('a call did not answer')), 'transient');
});

test('bad data, constraints, syntax, unknown codes and errors without a code are permanent', () => {
  for (const code of ['22P05', '22021', '23505', '23503', '42P01', '42601', 'P0001', '40000', '57000', '55000', 'XX000']) {
    assert.equal(classifyDbError(withCode(code)), 'permanent', code);
  }
  for (const error of [new Error('boom'), new TypeError("Cannot read properties of null (reading 'write')"), null, undefined, 'text', { code: 42 }]) {
    assert.equal(classifyDbError(error), 'permanent', String(error));
  }
});
