import { settingFor, type DuctworkConfig } from '../config/config.js';
import { isTransientDbError, noteDatabaseError, withDeadline, type Sql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { notifyWakeup } from '../db/notify.js';
import { claimExecutions, commitFailure, commitSuccesses, crashClaims, openClaimsOf, type ClaimedExecution, type Success } from '../db/queries/executions.js';
import { serializeError, type SerializedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StepTask } from '../../workers/protocol.js';
import { jitteredPollMs, outageDelayMs, sleep } from './backoff.js';
import { crashDecision, nextRun } from './budgets.js';
import type { DefinitionCache } from './definition-cache.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { chainSuccessor } from './route.js';
import type { StepThreadPool } from './thread-pool.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

export interface JobWorkerDeps {
  sql: Sql;
  pool: StepThreadPool;
  pipeline: string;
  config: DuctworkConfig;
  processId: string;
  log: Logger;
  wakeups: Wakeups;
  definitions: DefinitionCache;
  /** No advancer of this pipeline runs in this process (role `worker`): wake them by NOTIFY. */
  advancersElsewhere: boolean;
}

const MAX_MESSAGE = 2000;
const MAX_FRAMES = 10;

/** Result commits in flight at once: while some wait on the database, the next batch forms. */
const MAX_FLUSHES = 2;
/** How long a busy worker waits for more free slots before claiming a small batch. */
const CLAIM_WINDOW_MS = 2;

/**
 * The job worker loop of one pipeline: claims due executions (as many as there are free slots,
 * in one statement), runs them on the thread pool, and records each outcome with a commit fenced
 * by the claim token. Successes finishing while a commit is in flight are committed together;
 * a success whose step chains on creates and claims its successor in that same commit, which
 * then runs at once in the slot it frees (no advancer pass, no re-claim).
 */
export class JobWorker {
  readonly #deps: JobWorkerDeps;
  /** Running claims by execution id, with when they were dispatched. */
  readonly #inflight = new Map<string, { claim: ClaimedExecution; startedAt: number }>();
  readonly #capacity: number;
  /** Free slots worth a claim without waiting. */
  readonly #claimBatch: number;
  readonly #pollSeconds: number;
  #running = false;
  #abandoning = false;
  #loop: Promise<void> | undefined;
  #slotWaiter: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #pendingSuccesses: { claim: ClaimedExecution; output: string; next: Success['next'] }[] = [];
  #flushes = 0;

  constructor(deps: JobWorkerDeps) {
    this.#deps = deps;
    this.#capacity = settingFor(deps.config.job_worker.count, 5, deps.pipeline);
    this.#claimBatch = Math.max(1, Math.floor(this.#capacity / 4));
    this.#pollSeconds = settingFor(deps.config.job_worker.polling_timeout, 1, deps.pipeline);
  }

  /** The loop's name in logs, hooks and thread dumps. */
  get name(): string {
    return `ductwork.job_worker.${this.#deps.pipeline}`;
  }

  get pipeline(): string {
    return this.#deps.pipeline;
  }

  /** Steps of this pipeline running right now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** What this loop is running now, for thread dumps. */
  describe(): { step: string; execution: string; stepId: string; runId: string; runningMs: number }[] {
    return [...this.#inflight.values()].map(({ claim: c, startedAt }) => ({
      step: c.klass, execution: c.id, stepId: c.step_id, runId: c.run_id, runningMs: Math.round(performance.now() - startedAt),
    }));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops claiming; running steps continue. Resolves when the claim loop has exited. */
  async stopClaiming(): Promise<void> {
    this.#running = false;
    this.#deps.wakeups.signal(jobsChannel(this.#deps.pipeline));
    this.#slotWaiter?.();
    await this.#loop;
  }

  /** Resolves when no step is running and every outcome is recorded. */
  settled(): Promise<void> {
    if (this.#inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** From now on, steps whose threads are terminated are recorded as abandoned at shutdown. */
  abandonRemaining(): void {
    this.#abandoning = true;
  }

  async #run(): Promise<void> {
    const { sql, pipeline, processId, log, wakeups } = this.#deps;
    let failures = 0;
    while (this.#running) {
      let free = this.#capacity - this.#inflight.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#slotWaiter = resolve));
        this.#slotWaiter = undefined;
        continue;
      }
      // Slots free up one by one while steps run: claiming each alone would cost a round trip
      // per step, so wait a moment for a quarter of them. An idle worker claims at once.
      if (free < this.#claimBatch && this.#inflight.size > 0) {
        await sleep(CLAIM_WINDOW_MS);
        free = this.#capacity - this.#inflight.size;
      }
      let claims: ClaimedExecution[];
      try {
        if (failures > 0) await this.#call(this.#abandonUnknownClaims(), 'abandoning unknown claims');
        claims = await this.#call(claimExecutions(sql, pipeline, free, processId), 'claiming jobs');
        failures = 0;
        await this.#readDefinitions(claims);
      } catch (error) {
        noteDatabaseError(error);
        log.warn('Job claim failed; retrying', { error: (error as Error).message });
        await sleep(outageDelayMs(failures++));
        continue;
      }
      if (FAULTS_ENABLED && claims.length > 0) await faultPoint('after_job_claim');
      for (const claim of claims) this.#dispatch(claim);
      if (claims.length === 0) await wakeups.wait(jobsChannel(pipeline), jitteredPollMs(this.#pollSeconds));
    }
  }

  /**
   * A claim statement that failed may still have committed (the reply was lost): such claims are
   * ours in the database but unknown here, and no reaper would free them while we live. Before
   * claiming again, end them as abandoned so they re-run at once.
   */
  async #abandonUnknownClaims(): Promise<void> {
    const { sql, pipeline, processId, config, log, wakeups } = this.#deps;
    const unknown = (await openClaimsOf(sql, processId, pipeline)).filter((c) => !this.#inflight.has(c.id));
    if (unknown.length === 0) return;
    const ended = await crashClaims(sql, unknown.map((c) => crashDecision(config, c)), 'AbandonedClaim', 'Claimed by a statement whose reply was lost; re-enqueued');
    log.warn('Re-enqueued claims whose claim reply was lost', { count: ended.length });
    wakeups.signal(jobsChannel(pipeline));
  }

  /**
   * Makes sure the definitions of claimed steps are cached (one read per definition, not per
   * run), so a finishing step can be continued in its commit. A failed read only costs that.
   */
  async #readDefinitions(claims: ClaimedExecution[]): Promise<void> {
    const { definitions, sql } = this.#deps;
    for (const claim of claims) {
      if (claim.branch_id === null || definitions.peek(claim.definition_sha1)) continue;
      await definitions.get(sql, claim.run_id, claim.definition_sha1).catch(() => undefined);
    }
  }

  #dispatch(claim: ClaimedExecution): void {
    this.#inflight.set(claim.id, { claim, startedAt: performance.now() });
    const task: StepTask = {
      step: claim.klass,
      input: claim.input,
      info: {
        pipelineId: claim.pipeline_id,
        runId: claim.run_id,
        stepId: claim.step_id,
        executionId: claim.id,
        idempotencyKey: claim.idempotency_key,
        attempt: claim.retry_count + 1,
        crashCount: claim.crash_count,
      },
    };
    this.#deps.pool.run(task).then(
      (result) => {
        if (result.ok) this.#queueSuccess(claim, result.output);
        else void this.#recordFailure(claim, 'failure', result.error);
      },
      (error: unknown) => void this.#recordFailure(claim, 'crashed', this.#crashError(error)),
    );
  }

  #crashError(error: unknown): SerializedError {
    const message = (error as Error)?.message ?? String(error);
    return this.#abandoning
      ? { name: 'AbandonedClaim', message: `Step abandoned at shutdown after job_worker.shutdown_timeout (${message}); re-enqueued` }
      : { name: 'ThreadCrash', message: `Worker thread died while running the step: ${message}` };
  }

  #queueSuccess(claim: ClaimedExecution, output: string): void {
    this.#pendingSuccesses.push({ claim, output, next: this.#running ? this.#successor(claim) : undefined });
    if (this.#flushes < MAX_FLUSHES) {
      this.#flushes++;
      void this.#flush();
    }
  }

  /** The step that continues the claim's branch in its commit, when its node chains on. */
  #successor(claim: ClaimedExecution): Success['next'] {
    if (claim.branch_id === null) return undefined;
    const graph = this.#deps.definitions.peek(claim.definition_sha1);
    const next = graph && chainSuccessor(graph, claim.node);
    return next && { id: uuidv7(), ...next };
  }

  async #flush(): Promise<void> {
    const { log } = this.#deps;
    while (this.#pendingSuccesses.length > 0) {
      const batch = this.#pendingSuccesses.splice(0);
      let recorded: Awaited<ReturnType<typeof commitSuccesses>> | undefined;
      try {
        if (FAULTS_ENABLED) await faultPoint('before_job_commit');
        recorded = await this.#persist('record step results', () => this.#commit(batch));
        if (FAULTS_ENABLED) await faultPoint('after_job_commit');
      } catch (error) {
        // Not a user error: the work loop's layer records it as a crash of each claim (crash budget).
        log.error('Unexpected error recording step results', { error: (error as Error).message });
        for (const { claim } of batch) void this.#recordFailure(claim, 'crashed', serializeError(error));
        continue;
      }
      let toAdvance = 0;
      for (const { claim, output, next } of batch) {
        if (recorded && !recorded.committed.has(claim.id)) {
          log.debug('Claim no longer held; result not recorded (the step runs again elsewhere)', { step: claim.klass, execution: claim.id });
        }
        const continued = next && recorded?.continued.get(next.id);
        if (continued) {
          this.#inflight.delete(claim.id);
          this.#dispatch({
            ...claim, id: continued.id, claim_token: continued.claim_token, retry_count: 0, crash_count: 0,
            step_id: next.id, klass: next.klass, node: next.node, input: output, idempotency_key: next.id,
          });
          continue;
        }
        if (recorded?.committed.has(claim.id) && claim.branch_id !== null) toAdvance++;
        this.#release(claim.id);
      }
      if (toAdvance > 0) this.#wakeAdvancers();
    }
    this.#flushes--;
  }

  /**
   * Commits a batch of successes with their continuations. If creating a continuation fails for
   * a reason other than the connection (a trigger, a constraint), the results are committed
   * without continuations: the advancer then routes those steps and applies its error budget.
   */
  async #commit(batch: { claim: ClaimedExecution; output: string; next: Success['next'] }[]) {
    const { sql, processId, log } = this.#deps;
    const results = batch.map(({ claim, output, next }) => ({ id: claim.id, token: claim.claim_token, output, next }));
    try {
      return await commitSuccesses(sql, results, processId);
    } catch (error) {
      if (isTransientDbError(error) || !results.some((r) => r.next)) throw error;
      log.debug('Continuing steps in their commit failed; leaving them to the advancer', { error: (error as Error).message });
      return commitSuccesses(sql, results.map(({ next: _, ...plain }) => plain), processId);
    }
  }

  async #recordFailure(claim: ClaimedExecution, outcome: 'failure' | 'crashed', error: SerializedError): Promise<void> {
    const { sql, config, pipeline, log, wakeups } = this.#deps;
    const { again, delayMs } = nextRun(config, outcome, { pipeline, klass: claim.klass, retryCount: claim.retry_count, crashCount: claim.crash_count });
    const fields = { step: claim.klass, execution: claim.id, error: `${error.name}: ${error.message}` };
    if (outcome === 'failure') {
      if (again) log.warn('Job errored', { ...fields, retry: claim.retry_count + 1, inMs: Math.round(delayMs) });
      else log.error('Job exhausted retries and failed', fields);
    } else if (again) log.warn('Job crashed; re-enqueued', { ...fields, crash: claim.crash_count + 1 });
    else log.error('Job exceeded crash limit and failed', fields);

    const fenced = await this.#persist('record a step failure', () =>
      commitFailure(sql, {
        id: claim.id,
        token: claim.claim_token,
        outcome,
        errorClass: error.name.slice(0, 200),
        errorCode: error.code ?? null,
        errorMessage: error.message.length > MAX_MESSAGE ? `${error.message.slice(0, MAX_MESSAGE)}…` : error.message,
        errorStack: truncateStack(error.stack),
        again,
        delayMs,
      }),
    );
    if (fenced === false) log.debug('Claim no longer held; failure not recorded', fields);
    if (fenced && !again) this.#wakeAdvancers();
    if (fenced && again && delayMs === 0) wakeups.signal(jobsChannel(pipeline));
    this.#release(claim.id);
  }

  /**
   * Runs a commit, retrying through database outages: a finished step's result is kept and
   * retried rather than dropped. Gives up only once the engine is abandoning work at shutdown;
   * the claim then stays open and the reaper re-runs the step.
   */
  async #persist<T>(what: string, commit: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#call(commit(), what);
      } catch (error) {
        noteDatabaseError(error);
        if (this.#abandoning && attempt >= 3) {
          this.#deps.log.error(`Could not ${what}; leaving the claim for recovery`, { error: (error as Error).message });
          return undefined;
        }
        this.#deps.log.warn(`Could not ${what}; retrying`, { error: (error as Error).message, attempt: attempt + 1 });
        await sleep(outageDelayMs(attempt));
      }
    }
  }

  /** Finished steps wait for an advancer: wake this process's, or other processes' by NOTIFY. */
  #wakeAdvancers(): void {
    const { sql, config, pipeline, wakeups, advancersElsewhere, log } = this.#deps;
    if (!advancersElsewhere) return wakeups.signal(advanceChannel(pipeline));
    notifyWakeup(sql, config.database.schema, advanceChannel(pipeline)).catch((error: unknown) =>
      log.debug('Could not notify advancers; they will poll', { error: (error as Error).message }),
    );
  }

  #call<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(work, this.#deps.config.database.call_timeout * 1000, what);
  }

  #release(executionId: string): void {
    this.#inflight.delete(executionId);
    this.#slotWaiter?.();
    if (this.#inflight.size === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}

/** The first frames of a stack, then how many were left out. */
function truncateStack(stack: string | undefined): string | null {
  if (!stack) return null;
  const lines = stack.split('\n');
  const header = lines[0] ?? '';
  const frames = lines.slice(1);
  if (frames.length <= MAX_FRAMES) return stack;
  return [header, ...frames.slice(0, MAX_FRAMES), `    ... ${frames.length - MAX_FRAMES} more frames`].join('\n');
}
