/**
 * In-process wake-up hints between loops: a job commit wakes the advancers, an advancement that
 * enqueued steps wakes the job worker. Hints only: every loop also polls.
 *
 * One job worker and one advancer set serve every pipeline of a process, so there are two
 * channels, {@link JOBS_CHANNEL} and {@link ADVANCE_CHANNEL}. Notifications between processes name a
 * pipeline (`jobs:<Pipeline>`, `advance:<Pipeline>`, so a process ignores pipelines it does not
 * run); signalling one of those wakes the process-wide channel.
 */
export class Wakeups {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #pending = new Set<string>();

  /** Wakes whoever waits on `channel` now, or the next waiter if none waits yet. */
  signal(channel: string): void {
    channel = processChannel(channel);
    const waiters = this.#waiters.get(channel);
    if (!waiters || waiters.size === 0) {
      this.#pending.add(channel);
      return;
    }
    this.#waiters.delete(channel);
    for (const wake of waiters) wake();
  }

  /** Resolves on a signal for `channel` or after `ms`, whichever comes first. */
  wait(channel: string, ms: number): Promise<void> {
    if (this.#pending.delete(channel)) return Promise.resolve();
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(channel);
      if (!waiters) this.#waiters.set(channel, (waiters = new Set()));
      const done = () => {
        clearTimeout(timer);
        waiters!.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  /** Wakes every waiter (used on stop). */
  wakeAll(): void {
    for (const channel of [...this.#waiters.keys()]) this.signal(channel);
  }
}

/** The job worker's channel: steps are due. */
export const JOBS_CHANNEL = 'jobs';
/** The advancers' channel: finished steps wait to be routed. */
export const ADVANCE_CHANNEL = 'advance';

function processChannel(channel: string): string {
  if (channel.startsWith('jobs:')) return JOBS_CHANNEL;
  if (channel.startsWith('advance:')) return ADVANCE_CHANNEL;
  return channel;
}

export { advanceChannel, jobsChannel } from '../db/notify.js';
