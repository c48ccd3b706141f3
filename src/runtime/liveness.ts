import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, withDeadline, type Sql } from '../db/connect.js';
import { deleteProcess, heartbeat, holdProcessLock, insertProcess } from '../db/queries/processes.js';
import type { Logger } from '../log.js';

/** Failed beats, after the liveness connection closed, before that connection is opened afresh. */
const REOPEN_AFTER_FAILURES = 2;

/**
 * This process's presence in the database: a row in `processes` with a heartbeat, and a session
 * advisory lock, both on a connection of its own that is never swapped, idled out or recycled,
 * so the lock is held for as long as the process lives. When the process dies, its connection
 * closes and the lock frees at once; the heartbeat covers a host that vanished without closing
 * its socket.
 *
 * If that connection is lost anyway (the server restarted, the backend was terminated, the
 * network reset it), the lock is gone with it: the engine stops claiming work
 * ({@link whenHolding}) until the next beat holds the lock again, and both moments are logged.
 */
export class ProcessLiveness {
  readonly processId: string;
  readonly lockKey = randomBytes(8).readBigInt64BE().toString();
  readonly #options: { url: string; schema: string };
  #lockSql: Sql;
  readonly #role: string;
  readonly #threads: number;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #deadlineMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastFailure = -Infinity;
  #lastSuccess = -Infinity;
  #ticking: Promise<void> | undefined;
  #registered = false;
  #holding = false;
  #stopped = false;
  /** The connection closed since the lock was last confirmed; counts the beats that failed since. */
  #lostFailures: number | undefined;
  #holdWaiters: (() => void)[] = [];

  constructor(options: { url: string; schema: string; processId: string; role: string; threads?: number; log: Logger; intervalSeconds: number }) {
    this.processId = options.processId;
    this.#options = { url: options.url, schema: options.schema };
    this.#role = options.role;
    this.#threads = options.threads ?? 0;
    this.#log = options.log;
    this.#intervalMs = Math.max(50, options.intervalSeconds * 1000);
    this.#deadlineMs = Math.max(5_000, 5 * this.#intervalMs);
    this.#lockSql = this.#open();
  }

  /**
   * The dedicated connection: one session, never idled out or recycled; its statements are
   * bounded by the beat's deadline, and its close is noticed at once.
   */
  #open(): Sql {
    return connect({
      url: this.#options.url, schema: this.#options.schema, max: 1, idleTimeout: 0, maxLifetime: null, replaceable: false,
      applicationName: `ductwork-liveness ${this.processId}`,
      limits: { statementMs: this.#deadlineMs, lockMs: Math.min(5_000, this.#deadlineMs / 2), idleInTransactionMs: this.#deadlineMs },
      queryDeadlineMs: this.#deadlineMs + 1000,
      onClose: () => this.#connectionClosed(),
      // It can no longer hold the lock: its session is gone, and it will not send again.
      onStalled: () => this.#reopen(),
    });
  }

  /** Registers the process, takes the lock, and starts heartbeating. */
  async start(): Promise<void> {
    await this.#register();
    if (!(await holdProcessLock(this.#lockSql, this.lockKey))) {
      throw new Error(`could not take the liveness lock ${this.lockKey}`);
    }
    this.#holding = true;
    this.#lastSuccess = performance.now();
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Whether this process holds its liveness lock now, as far as it knows. */
  get holding(): boolean {
    return this.#holding;
  }

  /** Resolves once this process holds its liveness lock (at once when it does), or when it stops. */
  whenHolding(): Promise<void> {
    if (this.#holding || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#holdWaiters.push(resolve));
  }

  /** One heartbeat: refresh the row (re-adopting it if it was reaped) and make sure the lock is held. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    try {
      await withDeadline(this.#beat(), this.#deadlineMs, 'a heartbeat');
      this.#lastSuccess = performance.now();
    } catch (error) {
      this.#lastFailure = performance.now();
      this.#log.warn('Heartbeat failed', { error: (error as Error).message });
      if (this.#lostFailures !== undefined && ++this.#lostFailures >= REOPEN_AFTER_FAILURES && !this.#stopped) {
        // The session is gone already (its connection closed), so nothing is lost by opening the
        // connection afresh; a postgres.js connection that closed mid-write may never send again.
        this.#reopen();
      }
    }
  }

  #reopen(): void {
    if (this.#stopped) return;
    this.#lostFailures = 0;
    const old = this.#lockSql;
    this.#lockSql = this.#open();
    void old.end({ timeout: 0 }).catch(() => {});
  }

  async #beat(): Promise<void> {
    if (!(await heartbeat(this.#lockSql, this.processId))) {
      this.#log.warn('Process record missing, re-adopting (likely reaped while unreachable)', { process: this.processId });
      await this.#register();
    }
    if (await holdProcessLock(this.#lockSql, this.lockKey)) {
      this.#lostFailures = undefined;
      if (!this.#holding) {
        this.#holding = true;
        this.#log.warn('Liveness lock held again; claiming resumes', { process: this.processId });
        for (const resolve of this.#holdWaiters.splice(0)) resolve();
      }
    } else {
      this.#lockLost('Liveness lock is held elsewhere; claiming paused until it is ours again');
    }
  }

  #connectionClosed(): void {
    if (this.#stopped) return;
    this.#lostFailures ??= 0;
    this.#lockLost('Liveness connection lost, and the liveness lock with it; claiming paused until it is held again');
    void this.tick();
  }

  #lockLost(message: string): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#log.warn(message, { process: this.processId });
  }

  /**
   * Whether this process's own link to the database has been healthy for `seconds`. A reaper
   * must not judge others right after an outage: they could not heartbeat either.
   */
  steadyFor(seconds: number): boolean {
    const now = performance.now();
    return now - this.#lastFailure >= seconds * 1000 && now - this.#lastSuccess < Math.max(seconds * 1000, 2 * this.#intervalMs);
  }

  /** Stops heartbeating, removes the row (if it was written) and releases the lock. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const resolve of this.#holdWaiters.splice(0)) resolve();
    await this.#ticking;
    if (this.#registered) {
      await deleteProcess(this.#lockSql, this.processId).catch((error) => this.#log.warn('Could not remove the process row', { error: (error as Error).message }));
    }
    await this.#lockSql.end({ timeout: 2 });
  }

  async #register(): Promise<void> {
    await insertProcess(this.#lockSql, { id: this.processId, pid: process.pid, host: hostname(), role: this.#role, lockKey: this.lockKey, threads: this.#threads });
    this.#registered = true;
  }
}
