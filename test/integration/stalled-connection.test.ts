/**
 * A postgres.js 3.4 connection whose socket closes while a small write is buffered keeps a stale
 * write timer and never sends again (LanternOps/breeze#3225): each reconnect waits out
 * connect_timeout. The fault-proxy storm test hit it about once in thirty rounds, as a run stalled
 * for 10 to 90 s. Here the same race is made deterministic: a query is issued (its bytes wait for
 * an immediate) and its socket's close is delivered before that immediate runs.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { test } from 'node:test';
import postgres from 'postgres';
import { classifyDbError, connect, DeadlineExceeded, PENDING_AFTER_LOSS_MS, withDeadline } from '../../src/db/connect.js';
import { watchedSocket, type SocketTarget } from '../../src/db/watched-socket.js';
import { DATABASE_URL } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Closes `socket` the way a reset does, while the query just issued has its bytes buffered:
 * postgres.js sends a query a microtask after it is awaited, and writes it on the next immediate.
 */
async function closeMidWrite(socket: Socket): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
  socket.destroy();
  socket.emit('close', false);
}

/** Records every socket that connects until `restore()` (how a pool's own sockets are reached). */
function recordSockets(): { sockets: Socket[]; restore(): void } {
  const sockets: Socket[] = [];
  const original = Socket.prototype.connect;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    sockets.push(this);
    return (original as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;
  return { sockets, restore: () => (Socket.prototype.connect = original) };
}

test('postgres.js alone: a connection closed mid-write never sends again, and the watched socket reports it', async () => {
  const sockets: Socket[] = [];
  let stalls = 0;
  const factory = watchedSocket(() => stalls++);
  const sql = postgres(DATABASE_URL, {
    max: 1, connect_timeout: 2, fetch_types: false, onnotice: () => {},
    // Not in postgres.js's types, though its code and README have it.
    ...({
      socket: (target: SocketTarget) => {
        const socket = factory(target);
        sockets.push(socket);
        return socket;
      },
    } as object),
  });
  try {
    assert.deepEqual([...(await sql`select 1 as n`)], [{ n: 1 }]);
    const lost = sql`select 2 as n`.then(() => undefined, (error: Error) => error);
    await closeMidWrite(sockets[0]!);
    assert.equal(((await lost) as { code?: string } | undefined)?.code, 'CONNECTION_CLOSED');

    // The next query reconnects on the same connection object, whose startup message is never sent.
    const stuck = await sql`select 3 as n`.then(() => undefined, (error: Error) => error);
    assert.equal((stuck as { code?: string } | undefined)?.code, 'CONNECT_TIMEOUT', 'the driver bug this guards against is still there');
    assert.equal(sockets.length >= 2 && sockets[1]!.bytesWritten, 0, 'nothing was written to the new socket');
    assert.ok(stalls >= 1, 'the watched socket saw that nothing was written');
  } finally {
    await sql.end({ timeout: 0 });
  }
});

test('a Ductwork pool whose connection stopped sending is reopened: the query after it is answered', async () => {
  const recorded = recordSockets();
  const sql = connect({ url: DATABASE_URL, schema: 'public', max: 1, applicationName: 'ductwork-stall-test' });
  try {
    assert.deepEqual([...(await sql`select 1 as n`)], [{ n: 1 }]);
    const opened = recorded.sockets.length;
    const lost = sql`select 2 as n`.then(() => undefined, (error: Error) => error);
    await closeMidWrite(recorded.sockets[opened - 1]!);
    assert.equal(classifyDbError(await lost), 'transient');

    // The stalled attempt fails with a connection error once its pool is swapped; a retry, as
    // every engine loop makes, is answered by the fresh pool (unpatched, it too waits out
    // connect_timeout, for ever).
    const first = await sql`select 3 as n`.then((rows) => rows[0]!.n as number, (error: Error) => error);
    if (first instanceof Error) assert.equal(classifyDbError(first), 'transient', first.message);
    const answer = await waitFor('a query to be answered after the stall', async () =>
      sql`select 4 as n`.then((rows) => rows[0]!.n as number, () => undefined), 30_000);
    assert.equal(answer, 4);
  } finally {
    recorded.restore();
    await sql.end({ timeout: 0 });
  }
});

test('a call still pending after a connection of its pool was lost to an error is given up, before its deadline', async () => {
  const recorded = recordSockets();
  const sql = connect({ url: DATABASE_URL, schema: 'public', max: 1, applicationName: 'ductwork-stall-test' });
  try {
    await sql`select 1`;
    // A call that never settles: what a query left pending by the driver on a reset connection is.
    const pending = withDeadline(new Promise<never>(() => {}), 20_000, 'a stuck call', sql);
    pending.catch(() => {});
    // The pool's connection is lost to an error (a reset), not closed by an idle timeout.
    recorded.sockets.at(-1)!.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    // A call that starts just after the loss is bounded the same way.
    await new Promise((resolve) => setImmediate(resolve)); // the socket's error event has been emitted
    const next = withDeadline(new Promise<never>(() => {}), 20_000, 'a later call', sql);
    next.catch(() => {});
    await assert.rejects(pending, (error: Error) => {
      assert.ok(error instanceof DeadlineExceeded, String(error));
      assert.equal(error.message, `a stuck call got no answer within ${PENDING_AFTER_LOSS_MS} ms of a lost connection`);
      return true;
    });
    await assert.rejects(next, /a later call got no answer within \d+ ms of a lost connection$/);
    assert.deepEqual([...(await sql`select 2 as n`)], [{ n: 2 }], 'the pool itself works on');
  } finally {
    recorded.restore();
    await sql.end({ timeout: 0 });
  }
});
