import { connect as openSocket, type Socket } from 'node:net';

/** The parsed postgres.js options a `socket` factory receives, as far as they are read here. */
export interface SocketTarget {
  host: string[];
  port: number[];
  path?: string | false;
}

/**
 * How long a new connection's socket may go without a first write. postgres.js writes its
 * startup (or SSL request) message in the same turn of the event loop as it opens the socket, so
 * a second without one is never a slow server: it is the stuck connection described below.
 */
export const FIRST_WRITE_MS = 1000;

/**
 * Whether Ductwork can open this URL's sockets itself: one host (postgres.js's multi-host
 * failover rotates hosts inside its own connect) and no direct TLS (the TLS layer then writes
 * below the socket, where the first write could not be seen).
 */
export function canWatch(url: string): boolean {
  const authority = url.slice(url.indexOf('://') + 3).split(/[?/]/)[0] ?? '';
  return !authority.slice(authority.lastIndexOf('@') + 1).includes(',') && !/[?&]sslnegotiation=direct\b/.test(url);
}

/**
 * A postgres.js `socket` option that opens the TCP (or Unix-domain) socket as postgres.js would,
 * and calls `onStalled` when postgres.js never writes to it. postgres.js 3.4 leaves a connection
 * whose socket closed while a small write was buffered with a stale write timer (it clears the
 * timer without forgetting it), after which that connection object buffers every write and sends
 * none: each reconnect waits out connect_timeout, again and again (LanternOps/breeze#3225, the
 * same race as porsager/postgres#1154). Such a connection holds no session; the cure is a fresh
 * pool, which `onStalled` is for. `onLost` hears of every socket of the pool that fails with an
 * error.
 */
export function watchedSocket(onStalled: () => void, onLost?: () => void): (target: SocketTarget) => Socket {
  return (target) => {
    const host = target.host[0]!;
    const port = target.port[0]!;
    const socket = target.path ? openSocket({ path: target.path }) : openSocket({ host, port });
    // postgres.js reads these when it opens its own sockets (TLS servername, error messages).
    Object.assign(socket, { host, port });
    watchFirstWrite(socket, onStalled);
    // A connection lost to an error (a reset, a refused or broken socket), not one closed by an
    // idle timeout or an end.
    if (onLost) socket.once('error', onLost);
    return socket;
  };
}

function watchFirstWrite(socket: Socket, onStalled: () => void): void {
  let wrote = false;
  const write = socket.write;
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    wrote = true;
    socket.write = write;
    return write.apply(this, args);
  } as Socket['write'];
  const timer = setTimeout(() => {
    // A main thread that was blocked runs this timer before postgres.js's pending write, which is
    // an immediate: look again after it.
    setImmediate(() => {
      if (!wrote && !socket.destroyed) onStalled();
    });
  }, FIRST_WRITE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
