import { connect, type Sql } from '../db/connect.js';
import { listenForWakeups } from '../db/notify.js';
import type { Logger } from '../log.js';
import { outageDelayMs, sleep } from './backoff.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

interface ListenerOptions {
  url: string;
  processId: string;
  schema: string;
  pipelines: readonly string[];
  wakeups: Wakeups;
  log: Logger;
  /** A pipeline's run was cancelled (`cancel:<runId>`): abort its steps running here. */
  onCancel?: (runId: string) => void;
}

const CANCEL_PREFIX = 'cancel:';

/**
 * Turns wake-up notifications from other processes (a trigger, a worker-only process that
 * finished steps, a reaper) into in-process wake-ups for this engine's loops.
 *
 * LISTEN runs on a connection of its own (never the engine pool's, which may be busy or, after
 * the postgres.js write crash, reopened). postgres.js re-subscribes after that connection is
 * lost; if subscribing fails, it is tried again with backoff until it succeeds. After every
 * (re)subscription every loop is woken once, since notifications sent meanwhile were lost; until
 * then the loops' polling covers the gap (latency, not work).
 */
export class WakeupListener {
  readonly #options: ListenerOptions;
  readonly #channels: Set<string>;
  readonly #sql: Sql;
  #subscription: { unlisten(): Promise<void> } | undefined;
  #running = false;
  #subscribing: Promise<void> | undefined;
  #wakeRetry: (() => void) | undefined;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#channels = new Set(options.pipelines.flatMap((p) => [jobsChannel(p), advanceChannel(p)]));
    // postgres.js opens the LISTEN session itself (one connection) from these options.
    this.#sql = connect({
      url: options.url, schema: options.schema, max: 1, idleTimeout: 0, maxLifetime: null, replaceable: false,
      applicationName: `ductwork-listener ${options.processId}`,
    });
  }

  /** Subscribes; resolves after the first attempt (a failed one is retried in the background). */
  async start(): Promise<void> {
    this.#running = true;
    const first = this.#subscribe();
    this.#subscribing = first.then(async (ok) => {
      for (let attempt = 0; !ok && this.#running; attempt++) {
        await new Promise<void>((resolve) => {
          this.#wakeRetry = resolve;
          void sleep(outageDelayMs(attempt)).then(resolve);
        });
        if (this.#running) ok = await this.#subscribe();
      }
    });
    await first;
  }

  async #subscribe(): Promise<boolean> {
    const { schema, wakeups, log } = this.#options;
    try {
      this.#subscription = await listenForWakeups(
        this.#sql,
        schema,
        (payload) => {
          if (this.#channels.has(payload)) wakeups.signal(payload);
          else if (payload.startsWith(CANCEL_PREFIX)) this.#options.onCancel?.(payload.slice(CANCEL_PREFIX.length));
        },
        () => {
          for (const channel of this.#channels) wakeups.signal(channel);
        },
      );
      return true;
    } catch (error) {
      // Without LISTEN the loops still poll; losing it costs latency, not work.
      log.warn('Could not listen for wake-ups; relying on polling and retrying', { error: (error as Error).message });
      return false;
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wakeRetry?.();
    await this.#subscribing;
    await this.#subscription?.unlisten().catch(() => {});
    this.#subscription = undefined;
    await this.#sql.end({ timeout: 1 }).catch(() => {});
  }
}
