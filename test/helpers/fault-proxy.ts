/**
 * A TCP proxy between an engine and PostgreSQL that injects network faults, in plain node:net:
 *
 * - `latency(ms)`: every chunk from the client reaches the server `ms` later (each query's round
 *   trip grows by `ms`), in order.
 * - `blackhole()` … `heal()`: nothing is forwarded either way and nothing is closed, like a cable
 *   pulled out of a switch: sockets stay open, bytes (and closes) wait, and are delivered in order
 *   on `heal()`, as TCP retransmission would. New connections are accepted and held too.
 * - `resetAll()`: every open connection is reset (RST) on both sides at once.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Direction {
  to: Socket;
  /** Client to server: the direction latency applies to (each query arrives that much later). */
  delayed: boolean;
  queue: { at: number; chunk: Buffer | 'end' }[];
  timer: NodeJS.Timeout | undefined;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  up: Direction | undefined;
  down: Direction | undefined;
  /** Client bytes that arrived before the upstream connection existed (a blackhole at connect). */
  early: (Buffer | 'end')[];
}

export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #latencyMs = 0;
  #blackholed = false;
  /** Connections ever accepted, and resets done: for a test to say what it exercised. */
  accepted = 0;
  resets = 0;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  /** Listens on a free loopback port in front of the server of `databaseUrl`. */
  static async start(databaseUrl: string): Promise<FaultProxy> {
    const url = new URL(databaseUrl);
    const target = { host: url.hostname || '127.0.0.1', port: Number(url.port || 5432) };
    let proxy: FaultProxy | undefined;
    const server = createServer({ noDelay: true }, (client) => proxy!.#accept(client));
    proxy = new FaultProxy(server, target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** Port the proxy listens on. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  latency(ms: number): void {
    this.#latencyMs = ms;
  }

  blackhole(): void {
    this.#blackholed = true;
  }

  heal(): void {
    this.#blackholed = false;
    for (const pair of this.#pairs) {
      if (!pair.upstream) this.#connectUpstream(pair);
      for (const direction of [pair.up, pair.down]) if (direction) this.#pump(direction);
    }
  }

  /** Resets every open connection, on both sides. */
  resetAll(): void {
    this.resets++;
    for (const pair of [...this.#pairs]) this.#drop(pair, true);
  }

  async close(): Promise<void> {
    for (const pair of [...this.#pairs]) this.#drop(pair, true);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    const pair: Pair = { client, upstream: undefined, up: undefined, down: undefined, early: [] };
    this.#pairs.add(pair);
    client.on('data', (chunk) => (pair.up ? this.#push(pair.up, chunk) : pair.early.push(chunk)));
    client.on('end', () => (pair.up ? this.#push(pair.up, 'end') : pair.early.push('end')));
    client.on('error', () => this.#drop(pair, true));
    client.on('close', () => {
      // A close while blackholed waits, like any other byte; otherwise it travels at once.
      if (!this.#blackholed) this.#drop(pair, false);
    });
    if (!this.#blackholed) this.#connectUpstream(pair);
  }

  #connectUpstream(pair: Pair): void {
    const upstream = connect({ host: this.#target.host, port: this.#target.port, noDelay: true });
    pair.upstream = upstream;
    pair.up = { to: upstream, delayed: true, queue: [], timer: undefined };
    pair.down = { to: pair.client, delayed: false, queue: [], timer: undefined };
    upstream.on('data', (chunk) => this.#push(pair.down!, chunk));
    upstream.on('end', () => this.#push(pair.down!, 'end'));
    upstream.on('error', () => this.#drop(pair, true));
    upstream.on('close', () => {
      if (!this.#blackholed) this.#drop(pair, false);
    });
    for (const chunk of pair.early.splice(0)) this.#push(pair.up, chunk);
    if (pair.client.destroyed) this.#push(pair.up, 'end');
  }

  #push(direction: Direction, chunk: Buffer | 'end'): void {
    direction.queue.push({ at: performance.now() + (direction.delayed ? this.#latencyMs : 0), chunk });
    this.#pump(direction);
  }

  /** Delivers what is due, in order; waits for the next item's time (or for `heal`). */
  #pump(direction: Direction): void {
    if (direction.timer) return;
    while (!this.#blackholed && direction.queue.length > 0) {
      const next = direction.queue[0]!;
      const wait = next.at - performance.now();
      if (wait > 0) {
        direction.timer = setTimeout(() => {
          direction.timer = undefined;
          this.#pump(direction);
        }, wait);
        return;
      }
      direction.queue.shift();
      if (direction.to.destroyed) continue;
      if (next.chunk === 'end') direction.to.end();
      else direction.to.write(next.chunk);
    }
  }

  #drop(pair: Pair, reset: boolean): void {
    if (!this.#pairs.delete(pair)) return;
    for (const direction of [pair.up, pair.down]) if (direction?.timer) clearTimeout(direction.timer);
    for (const socket of [pair.client, pair.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
