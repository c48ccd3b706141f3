/**
 * A background loop of passes with a pause between them: the reaper, the retention cleaner and
 * the scheduler. `stop()` cuts the pause short and waits for the pass in progress; the pause's
 * timer is cleared, so a stopped loop never keeps the process alive.
 */
export class PassLoop {
  readonly #pass: () => Promise<number>;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  /** `pass` runs once per turn and returns how long to pause before the next (ms; 0: at once). */
  constructor(pass: () => Promise<number>) {
    this.#pass = pass;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const pauseMs = await this.#pass();
      if (!this.#running || pauseMs <= 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pauseMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
