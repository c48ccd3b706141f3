import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, noteDatabaseError, withDeadline, type Sql } from '../db/connect.js';
import { deleteProcess, heartbeat, holdProcessLock, insertProcess } from '../db/queries/processes.js';
import type { Logger } from '../log.js';

/**
 * This process's presence in the database: a row in `processes` with a heartbeat, and a session
 * advisory lock held on a connection of its own for as long as the process lives. When the
 * process dies, its connection closes and the lock frees at once; the heartbeat covers a host
 * that vanished without closing its socket.
 */
export class ProcessLiveness {
  readonly processId: string;
  readonly lockKey = randomBytes(8).readBigInt64BE().toString();
  readonly #sql: Sql;
  readonly #lockSql: Sql;
  readonly #role: string;
  readonly #threads: number;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastFailure = -Infinity;
  #lastSuccess = -Infinity;
  #ticking: Promise<void> | undefined;

  constructor(options: { sql: Sql; url: string; schema: string; processId: string; role: string; threads?: number; log: Logger; intervalSeconds: number }) {
    this.processId = options.processId;
    this.#sql = options.sql;
    this.#role = options.role;
    this.#threads = options.threads ?? 0;
    this.#log = options.log;
    this.#intervalMs = Math.max(50, options.intervalSeconds * 1000);
    // One connection that never idles out: losing it would free the lock (it is re-taken on the next beat).
    this.#lockSql = connect({ url: options.url, schema: options.schema, max: 1, idleTimeout: 0, maxLifetime: null, applicationName: `ductwork-liveness ${options.processId}` });
  }

  /** Registers the process, takes the lock, and starts heartbeating. */
  async start(): Promise<void> {
    await this.#register();
    if (!(await holdProcessLock(this.#lockSql, this.lockKey))) {
      throw new Error(`could not take the liveness lock ${this.lockKey}`);
    }
    this.#lastSuccess = performance.now();
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** One heartbeat: refresh the row (re-adopting it if it was reaped) and make sure the lock is held. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    try {
      await withDeadline(this.#beat(), Math.max(5_000, 5 * this.#intervalMs), 'a heartbeat');
      this.#lastSuccess = performance.now();
    } catch (error) {
      noteDatabaseError(error);
      this.#lastFailure = performance.now();
      this.#log.warn('Heartbeat failed', { error: (error as Error).message });
    }
  }

  async #beat(): Promise<void> {
    if (!(await heartbeat(this.#sql, this.processId))) {
      this.#log.warn('Process record missing, re-adopting (likely reaped while unreachable)', { process: this.processId });
      await this.#register();
    }
    if (!(await holdProcessLock(this.#lockSql, this.lockKey))) {
      this.#log.warn('Liveness lock is held elsewhere; retrying', { process: this.processId });
    }
  }

  /**
   * Whether this process's own link to the database has been healthy for `seconds`. A reaper
   * must not judge others right after an outage: they could not heartbeat either.
   */
  steadyFor(seconds: number): boolean {
    const now = performance.now();
    return now - this.#lastFailure >= seconds * 1000 && now - this.#lastSuccess < Math.max(seconds * 1000, 2 * this.#intervalMs);
  }

  /** Stops heartbeating, removes the row and releases the lock. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
    await deleteProcess(this.#sql, this.processId).catch((error) => this.#log.warn('Could not remove the process row', { error: (error as Error).message }));
    await this.#lockSql.end({ timeout: 2 });
  }

  #register() {
    return insertProcess(this.#sql, { id: this.processId, pid: process.pid, host: hostname(), role: this.#role, lockKey: this.lockKey, threads: this.#threads });
  }
}
