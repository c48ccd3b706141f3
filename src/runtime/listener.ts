import type { Sql } from '../db/connect.js';
import { listenForWakeups } from '../db/notify.js';
import type { Logger } from '../log.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

interface ListenerOptions {
  sql: Sql;
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
 * finished steps, a reaper) into in-process wake-ups for this engine's loops. After every
 * (re)connection every loop is woken once, since notifications sent meanwhile were lost.
 */
export class WakeupListener {
  readonly #options: ListenerOptions;
  readonly #channels: Set<string>;
  #subscription: { unlisten(): Promise<void> } | undefined;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#channels = new Set(options.pipelines.flatMap((p) => [jobsChannel(p), advanceChannel(p)]));
  }

  async start(): Promise<void> {
    const { sql, schema, wakeups, log } = this.#options;
    try {
      this.#subscription = await listenForWakeups(
        sql,
        schema,
        (payload) => {
          if (this.#channels.has(payload)) wakeups.signal(payload);
          else if (payload.startsWith(CANCEL_PREFIX)) this.#options.onCancel?.(payload.slice(CANCEL_PREFIX.length));
        },
        () => {
          for (const channel of this.#channels) wakeups.signal(channel);
        },
      );
    } catch (error) {
      // Without LISTEN the loops still poll; losing it costs latency, not work.
      log.warn('Could not listen for wake-ups; relying on polling', { error: (error as Error).message });
    }
  }

  async stop(): Promise<void> {
    await this.#subscription?.unlisten().catch(() => {});
    this.#subscription = undefined;
  }
}
