import type { DuctworkConfig } from '../config/config.js';
import { keepTimes } from '../config/retention.js';
import { withDeadline, type Sql } from '../db/connect.js';
import { deleteExpiredPipelines } from '../db/queries/pipelines.js';
import type { Logger } from '../log.js';
import { jitteredPollMs } from './backoff.js';

/**
 * Deletes finished pipelines whose keep-time passed, a batch per pass, every `retention.interval`
 * seconds (back to back while there is a backlog). Runs in every engine; the passes of several
 * engines never overlap (an advisory lock), so at any moment one engine cleans.
 */
export class RetentionCleaner {
  readonly #options: { sql: Sql; config: DuctworkConfig; log: Logger };
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: { sql: Sql; config: DuctworkConfig; log: Logger }) {
    this.#options = options;
  }

  start(): void {
    if (this.#running || this.#options.config.retention.interval <= 0) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { config, log } = this.#options;
    while (this.#running) {
      let backlog = false;
      try {
        const outcome = await this.cleanOnce();
        backlog = outcome !== 'busy' && outcome.deleted >= config.retention.batch_size;
        if (outcome !== 'busy' && outcome.deleted > 0) log.info('Deleted expired pipelines', { pipelines: outcome.deleted });
      } catch (error) {
        log.warn('Retention pass failed', { error: (error as Error).message });
      }
      if (backlog) continue;
      await new Promise<void>((resolve) => {
        // Cleared on stop: a timer left behind would keep the process alive for a whole interval.
        const timer = setTimeout(resolve, jitteredPollMs(config.retention.interval));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One pass (exposed for tests): what it deleted, or `busy` when another engine was cleaning. */
  cleanOnce() {
    const { sql, config } = this.#options;
    return withDeadline(
      deleteExpiredPipelines(sql, config.database.schema, keepTimes(config), config.retention.batch_size),
      config.database.call_timeout * 1000,
      'a retention pass',
    );
  }
}
