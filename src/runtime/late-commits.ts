/** When the first follow-up look is made after a failed statement, in ms. */
const FIRST_LOOK_MS = 2000;
/** When the second one is, in ms. */
const SECOND_LOOK_MS = 10_000;

/**
 * When a loop looks again for claims that a failed statement may still have committed. The server
 * runs a statement it has received even after its connection was reset: it notices the client is
 * gone only when it replies. So a claim whose reply was lost can commit after the loop's first look
 * (the one right after the failure), for as long as the session's statement_timeout (the call
 * timeout). After each failure the loop looks again a little later, later still, and once that
 * timeout has surely passed; no claim of a live process stays unknown longer than that.
 */
export class LateCommitLooks {
  readonly #lastLookMs: number;
  readonly #now: () => number;
  #due: number[] = [];

  /** `callTimeoutMs`: the statement_timeout of the loop's sessions; `now`: a clock in ms. */
  constructor(callTimeoutMs: number, now: () => number = () => performance.now()) {
    this.#lastLookMs = callTimeoutMs + 2000;
    this.#now = now;
  }

  /** A statement failed: schedules the follow-up looks (again from now). */
  failed(): void {
    const now = this.#now();
    this.#due = [now + FIRST_LOOK_MS, now + SECOND_LOOK_MS, now + this.#lastLookMs];
  }

  /** Whether a follow-up look is due now; each scheduled look is answered once. */
  due(): boolean {
    const now = this.#now();
    const before = this.#due.length;
    this.#due = this.#due.filter((at) => at > now);
    return this.#due.length < before;
  }
}
