import type { DuctworkConfig } from '../config/config.js';
import { keepTimes } from '../config/retention.js';
import { withDeadline, type Sql } from '../db/connect.js';
import { deleteExpiredPipelines } from '../db/queries/pipelines.js';
import type { Logger } from '../log.js';
import { jitteredPollMs } from './backoff.js';
import { PassLoop } from './pass-loop.js';

/**
 * Deletes finished pipelines whose keep-time passed, a batch per pass, every `retention.interval`
 * seconds (back to back while there is a backlog). Runs in every engine; the passes of several
 * engines never overlap (an advisory lock), so at any moment one engine cleans.
 */
export class RetentionCleaner {
  readonly #options: { sql: Sql; config: DuctworkConfig; log: Logger };
  readonly #loop = new PassLoop(() => this.#pass());

  constructor(options: { sql: Sql; config: DuctworkConfig; log: Logger }) {
    this.#options = options;
  }

  start(): void {
    if (this.#options.config.retention.interval > 0) this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** One turn: a pass, then the next at once while there is a backlog, else after the interval. */
  async #pass(): Promise<number> {
    const { config, log } = this.#options;
    try {
      const outcome = await this.cleanOnce();
      if (outcome !== 'busy' && outcome.deleted > 0) log.info('Deleted expired pipelines', { pipelines: outcome.deleted });
      if (outcome !== 'busy' && outcome.deleted >= config.retention.batch_size) return 0;
    } catch (error) {
      log.warn('Retention pass failed', { error: (error as Error).message });
    }
    return jitteredPollMs(config.retention.interval);
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
