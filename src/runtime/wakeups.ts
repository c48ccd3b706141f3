/**
 * In-process wake-up hints between loops: a job commit wakes the advancer of its pipeline, an
 * advancement that enqueued steps wakes the job worker. Hints only: every loop also polls.
 */
export class Wakeups {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #pending = new Set<string>();

  /** Wakes whoever waits on `channel` now, or the next waiter if none waits yet. */
  signal(channel: string): void {
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

export { advanceChannel, jobsChannel } from '../db/notify.js';
