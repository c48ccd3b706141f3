import { settingFor, type DuctworkConfig } from '../config/config.js';
import { DeadlineExceeded, withDeadline, type Sql } from '../db/connect.js';
import { isTransientDbError } from '../db/classify-error.js';
import { uuidv7 } from '../db/ids.js';
import { notifyWakeup } from '../db/notify.js';
import { claimJobs, commitFailure, commitSuccesses, crashClaims, openClaimsOf, type ClaimedJob, type Success } from '../db/queries/jobs.js';
import { serializeError, type SerializedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StepOutcome } from '../observe/metrics.js';
import type { EngineObserver, ExecutionObservation } from '../observe/observer.js';
import type { StepRunNext, StepTask } from '../../workers/protocol.js';
import { jitteredPollMs, outageDelayMs, sleep } from './backoff.js';
import { crashDecision, nextRun } from './budgets.js';
import type { DefinitionCache } from './definition-cache.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { chainSuccessor } from './route.js';
import { startChild } from '../db/queries/children.js';

/** A child start whose claim was taken over meanwhile: nothing was written. */
class ClaimLost extends Error {}
import { storableText, toStoredError } from './stored-error.js';
import type { StepThreadPool } from './thread-pool.js';
import { ADVANCE_CHANNEL, JOBS_CHANNEL, advanceChannel, type Wakeups } from './wakeups.js';
import { LateCommitLooks } from './late-commits.js';

export interface JobWorkerDeps {
  sql: Sql;
  pool: StepThreadPool;
  /** The pipelines this process runs steps of, each with its `job_worker.count`. */
  pipelines: readonly string[];
  config: DuctworkConfig;
  processId: string;
  log: Logger;
  wakeups: Wakeups;
  definitions: DefinitionCache;
  /** No advancer runs in this process (role `worker`): wake them by NOTIFY. */
  advancersElsewhere: boolean;
  /** Step timeout in seconds for a pipeline's step class (0 = none). */
  timeoutOf: (pipeline: string, klass: string) => number;
  /** Resolves when this process may claim (it holds its liveness lock). */
  mayClaim?: () => Promise<void>;
  /** Spans and metrics of every attempt. */
  observer?: EngineObserver;
}

/** Result commits in flight at once: while some wait on the database, the next batch forms. */
const MAX_FLUSHES = 2;
/** How long a busy worker waits for more free slots before claiming a small batch. */
const CLAIM_WINDOW_MS = 2;
/** Bounds of one success commit: results, and bytes of output. */
const MAX_BATCH = 256;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** A step result waiting for its commit. */
interface PendingSuccess {
  claim: ClaimedJob;
  output: string;
  next: Success['next'];
  delaySeconds?: number;
  notBefore?: Date;
}

/** One step running on the thread pool. */
interface Running {
  claim: ClaimedJob;
  startedAt: number;
  timers: NodeJS.Timeout[];
  /** Set when the step's timeout expired: whatever it does next, the attempt failed with `step_timeout`. */
  timedOut?: number;
  observation?: ExecutionObservation;
}

/**
 * The process's job worker loop, serving every pipeline it runs: claims due jobs for all of them
 * in one statement (each pipeline up to its free `job_worker.count` slots, counted in memory),
 * runs them on the thread pool, and records each outcome with a commit fenced by the claim token.
 * Successes finishing while a commit is in flight are committed together; a success whose step
 * chains on points its job at the successor in that same commit, which then runs at once in the
 * slot it frees (no advancer pass, no re-claim).
 *
 * A commit that fails is retried only if the failure is transient (the connection, a deadlock, a
 * timeout); a batch the database refuses is split until the refused result is alone, and that
 * one is recorded as a failure of its step. Nothing is retried forever.
 */
export class JobWorker {
  readonly #deps: JobWorkerDeps;
  /** Running steps by job id, and by claim token (each attempt's own id: a chain runs many steps in one job). */
  readonly #inflight = new Map<string, Running>();
  readonly #byToken = new Map<string, Running>();
  readonly #capacity = new Map<string, number>();
  readonly #running = new Map<string, number>();
  readonly #totalCapacity: number;
  /** Free slots worth a claim without waiting. */
  readonly #claimBatch: number;
  #claiming = false;
  #abandoning = false;
  #loop: Promise<void> | undefined;
  #slotWaiter: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #pendingSuccesses: PendingSuccess[] = [];
  #flushes = 0;
  /** A commit failed on the connection: it may have committed, leaving claims (continuations) unknown here. */
  #unknownClaimsSuspected = false;
  /** A claim or commit that failed may still commit on the server after the first look. */
  readonly #lateCommits: LateCommitLooks;

  constructor(deps: JobWorkerDeps) {
    this.#deps = deps;
    for (const pipeline of deps.pipelines) {
      this.#capacity.set(pipeline, settingFor(deps.config.job_worker.count, 5, pipeline));
      this.#running.set(pipeline, 0);
    }
    this.#totalCapacity = [...this.#capacity.values()].reduce((a, b) => a + b, 0);
    this.#claimBatch = Math.max(1, Math.floor(this.#totalCapacity / 4));
    this.#lateCommits = new LateCommitLooks(deps.config.database.call_timeout * 1000);
  }

  /** The loop's name in logs, hooks and thread dumps. */
  get name(): string {
    return 'ductwork.job_worker';
  }

  /** Steps running right now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** What this loop is running now, for thread dumps. */
  describe(): { pipeline: string; step: string; job: string; stepId: string; runId: string; runningMs: number }[] {
    return [...this.#inflight.values()].map(({ claim: c, startedAt }) => ({
      pipeline: c.pipeline_klass, step: c.klass, job: c.id, stepId: c.step_id, runId: c.run_id, runningMs: Math.round(performance.now() - startedAt),
    }));
  }

  /** Finished steps whose results wait to be committed, and the commit loops working on them. */
  recording(): { waiting: number; commits: number } {
    return { waiting: this.#pendingSuccesses.length, commits: this.#flushes };
  }

  /**
   * The steps of a cancelled run that run here: their `this.signal` aborts now, and a step still
   * running `job_worker.timeout_grace` later has its thread terminated. Their results are fenced
   * out by the cancel either way. Returns how many it aborted.
   */
  abortRun(runId: string): number {
    const { pool, config, log } = this.#deps;
    let aborted = 0;
    for (const running of this.#inflight.values()) {
      const { claim } = running;
      if (claim.run_id !== runId) continue;
      aborted++;
      pool.abortStep(claim.claim_token, `pipeline ${claim.pipeline_id} was cancelled`);
      running.timers.push(setTimeout(() => {
        log.error('Cancelled step ignored its abort signal; terminating its worker thread', { step: claim.klass, job: claim.id, graceSeconds: config.job_worker.timeout_grace });
        pool.terminateStep(claim.claim_token);
      }, config.job_worker.timeout_grace * 1000));
    }
    if (aborted > 0) log.info('Aborting the running steps of a cancelled pipeline', { run: runId, steps: aborted });
    return aborted;
  }

  /** The running attempt a worker thread's request (a context write) comes from, by its execution id, if it still runs here. */
  runningClaim(executionId: string): ClaimedJob | undefined {
    return this.#byToken.get(executionId)?.claim;
  }

  start(): void {
    if (this.#claiming) return;
    this.#claiming = true;
    this.#loop = this.#run();
  }

  /** Stops claiming; running steps continue. Resolves when the claim loop has exited. */
  async stopClaiming(): Promise<void> {
    this.#claiming = false;
    this.#deps.wakeups.signal(JOBS_CHANNEL);
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

  /** Free slots per pipeline, and in total. */
  #free(): { limits: { pipeline: string; limit: number }[]; total: number } {
    const limits: { pipeline: string; limit: number }[] = [];
    let total = 0;
    for (const [pipeline, capacity] of this.#capacity) {
      const free = capacity - this.#running.get(pipeline)!;
      if (free > 0) {
        limits.push({ pipeline, limit: free });
        total += free;
      }
    }
    return { limits, total };
  }

  async #run(): Promise<void> {
    const { sql, processId, log, wakeups, config } = this.#deps;
    let failures = 0;
    while (this.#claiming) {
      let { limits, total } = this.#free();
      if (total === 0) {
        await new Promise<void>((resolve) => (this.#slotWaiter = resolve));
        this.#slotWaiter = undefined;
        continue;
      }
      // Slots free up one by one while steps run: claiming each alone would cost a round trip
      // per step, so wait a moment for a quarter of them. An idle worker claims at once.
      if (total < this.#claimBatch && this.#inflight.size > 0) {
        await sleep(CLAIM_WINDOW_MS);
        ({ limits, total } = this.#free());
      }
      if (this.#deps.mayClaim) await this.#deps.mayClaim();
      if (!this.#claiming) break;
      let claims: ClaimedJob[];
      try {
        if (failures > 0 || this.#unknownClaimsSuspected || this.#lateCommits.due()) {
          this.#unknownClaimsSuspected = false;
          await this.#call(this.#abandonUnknownClaims(), 'abandoning unknown claims');
        }
        claims = await this.#call(claimJobs(sql, limits, processId, this.#deps.observer?.tracing), 'claiming jobs');
        failures = 0;
        await this.#readDefinitions(claims);
      } catch (error) {
        log.warn('Job claim failed; retrying', { error: (error as Error).message });
        this.#lateCommits.failed();
        await sleep(outageDelayMs(failures++));
        continue;
      }
      if (FAULTS_ENABLED && claims.length > 0) await faultPoint('after_job_claim');
      for (const claim of claims) this.#dispatch(claim);
      if (claims.length === 0) await wakeups.wait(JOBS_CHANNEL, jitteredPollMs(config.job_worker.polling_timeout));
    }
  }

  /**
   * A claim or commit statement that failed may still have committed (the reply was lost): such
   * claims (a claim, or a chain continued in a commit) are ours in the database but unknown here,
   * and no reaper would free them while we live. Before claiming again, end them as abandoned so
   * they re-run at once.
   */
  async #abandonUnknownClaims(): Promise<void> {
    const { sql, processId, config, log } = this.#deps;
    const unknown = (await openClaimsOf(sql, processId)).filter((c) => c.kind === 'run' && !this.#inflight.has(c.id));
    if (unknown.length === 0) return;
    const ended = await crashClaims(sql, unknown.map((c) => crashDecision(config, c)), 'AbandonedClaim', 'Claimed by a statement whose reply was lost; re-enqueued');
    if (ended.length > 0) log.warn('Re-enqueued claims whose claim reply was lost', { count: ended.length });
  }

  /**
   * Makes sure the definitions of claimed steps are cached (one read per definition, not per
   * run), so a finishing step can be continued in its commit. A failed read only costs that.
   */
  async #readDefinitions(claims: ClaimedJob[]): Promise<void> {
    const { definitions, sql } = this.#deps;
    for (const claim of claims) {
      if (claim.branch_id === null || definitions.peek(claim.definition_sha1)) continue;
      await definitions.get(sql, claim.definition_sha1).catch(() => undefined);
    }
  }

  #dispatch(claim: ClaimedJob): void {
    const running: Running = { claim, startedAt: performance.now(), timers: [] };
    this.#inflight.set(claim.id, running);
    this.#byToken.set(claim.claim_token, running);
    this.#running.set(claim.pipeline_klass, (this.#running.get(claim.pipeline_klass) ?? 0) + 1);
    const child = claim.branch_id === null ? undefined : this.#deps.definitions.peek(claim.definition_sha1)?.metadata.children?.[claim.node];
    if (child !== undefined) {
      void this.#startChild(running, child);
      return;
    }
    const timeout = this.#deps.timeoutOf(claim.pipeline_klass, claim.klass);
    if (timeout > 0) this.#armTimeout(running, timeout);
    running.observation = this.#deps.observer?.executionStarted({
      pipeline: claim.pipeline_klass, step: claim.klass, node: claim.node, pipelineId: claim.pipeline_id, runId: claim.run_id, branchId: claim.branch_id,
      stepId: claim.step_id, executionId: claim.claim_token, attempt: claim.retry_count + 1, crashCount: claim.crash_count,
      traceContext: claim.trace_context, queueWaitSeconds: claim.queue_wait_s,
    });
    const task: StepTask = {
      watched: timeout > 0,
      step: claim.klass,
      input: claim.input,
      info: {
        pipelineId: claim.pipeline_id,
        runId: claim.run_id,
        stepId: claim.step_id,
        executionId: claim.claim_token,
        idempotencyKey: claim.idempotency_key,
        attempt: claim.retry_count + 1,
        crashCount: claim.crash_count,
        ...(running.observation?.traceparent ? { traceparent: running.observation.traceparent } : {}),
      },
    };
    this.#deps.pool.run(task).then(
      (result) => {
        if (running.timedOut !== undefined) void this.#recordFailure(running, 'failure', this.#timeoutError(running));
        else if (result.ok) this.#queueSuccess(running, result.output, result.runNext);
        else void this.#recordFailure(running, 'failure', result.error);
      },
      (error: unknown) => {
        if (running.timedOut !== undefined) void this.#recordFailure(running, 'failure', this.#timeoutError(running));
        else void this.#recordFailure(running, 'crashed', this.#crashError(error));
      },
    );
  }

  /**
   * A child pipeline stands at the claimed node: it is triggered and the job parked until the
   * child ends, in one transaction; the slot is free again at once. A failure (the child class is
   * not registered, the database refused) counts against the step's retry budget like a step error.
   */
  async #startChild(running: Running, child: string): Promise<void> {
    const { claim } = running;
    const { sql, log } = this.#deps;
    try {
      const started = await this.#call(sql.begin(async (tx) => {
        const id = await startChild(tx, { ...claim, branch_id: claim.branch_id! }, child);
        if (id === undefined) throw new ClaimLost();
        return id;
      }), 'starting a child pipeline');
      log.debug('Started a child pipeline', { parent: claim.pipeline_id, child: started, pipeline: child });
      this.#finish(claim, true);
    } catch (error) {
      if (error instanceof ClaimLost) return this.#finish(claim, true);
      if (retriable(error)) {
        // Left claimed: the unknown-claims sweep re-runs it on the crash budget.
        log.warn('Could not start a child pipeline; it is re-run', { step: claim.klass, error: (error as Error).message });
        return this.#finish(claim, true);
      }
      await this.#recordFailure(running, 'failure', serializeError(error));
    }
  }

  /**
   * After `seconds` the step's `this.signal` aborts; a step still running `job_worker.timeout_grace`
   * later has its worker thread terminated (its thread-mates are re-run on the crash budget).
   */
  #armTimeout(running: Running, seconds: number): void {
    const { pool, config, log } = this.#deps;
    const { claim } = running;
    running.timers.push(setTimeout(() => {
      running.timedOut = seconds;
      log.warn('Step timed out; aborting it', { step: claim.klass, job: claim.id, timeoutSeconds: seconds });
      pool.abortStep(claim.claim_token, `step ${claim.klass} timed out after ${seconds} s`);
      running.timers.push(setTimeout(() => {
        log.error('Step ignored its abort signal; terminating its worker thread', { step: claim.klass, job: claim.id, graceSeconds: config.job_worker.timeout_grace });
        pool.terminateStep(claim.claim_token);
      }, config.job_worker.timeout_grace * 1000));
    }, seconds * 1000));
  }

  #timeoutError(running: Running): SerializedError {
    return {
      name: 'StepTimeoutError',
      code: 'step_timeout',
      message: `Step ${running.claim.klass} did not finish within its timeout of ${running.timedOut} s (job_worker.timeout / static timeout).`,
    };
  }

  #crashError(error: unknown): SerializedError {
    const message = (error as Error)?.message ?? String(error);
    return this.#abandoning
      ? { name: 'AbandonedClaim', message: `Step abandoned at shutdown after job_worker.shutdown_timeout (${message}); re-enqueued` }
      : { name: 'ThreadCrash', message: `Worker thread died while running the step: ${message}` };
  }

  #queueSuccess(running: Running, output: string, runNext?: StepRunNext): void {
    this.#stopTimers(running);
    const { claim } = running;
    const edge = this.#deps.definitions.peek(claim.definition_sha1)?.edges[claim.node];
    // A wait's `after` (the chain after it) counts from the signal's delivery, not from this step's end.
    const after = edge?.type === 'wait' ? 0 : (edge?.after ?? 0);
    const delaySeconds = Math.max(after, runNext?.delaySeconds ?? 0);
    const notBefore = runNext?.at === undefined ? undefined : new Date(runNext.at);
    // A branch that must wait goes to the advancer with its due time instead of continuing in the commit.
    const waits = delaySeconds > 0 || notBefore !== undefined;
    this.#pendingSuccesses.push({
      claim, output, next: this.#claiming && !waits ? this.#successor(claim) : undefined,
      ...(delaySeconds > 0 ? { delaySeconds } : {}), ...(notBefore ? { notBefore } : {}),
    });
    if (this.#flushes < MAX_FLUSHES) {
      this.#flushes++;
      void this.#flush();
    }
  }

  /** The step that continues the claim's branch in its commit, when its node chains on. */
  #successor(claim: ClaimedJob): Success['next'] {
    if (claim.branch_id === null) return undefined;
    const graph = this.#deps.definitions.peek(claim.definition_sha1);
    const next = graph && chainSuccessor(graph, claim.node);
    return next && { id: uuidv7(), ...next };
  }

  /** Takes the next batch of pending successes, bounded by count and bytes (at least one). */
  #nextBatch(): PendingSuccess[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#pendingSuccesses.length && n < MAX_BATCH) {
      bytes += this.#pendingSuccesses[n]!.output.length;
      if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      n++;
    }
    return this.#pendingSuccesses.splice(0, n);
  }

  async #flush(): Promise<void> {
    while (this.#pendingSuccesses.length > 0) {
      const batch = this.#nextBatch();
      try {
        if (FAULTS_ENABLED) await faultPoint('before_job_commit');
        await this.#commitBatch(batch);
      } catch (error) {
        // Not a user error, nor one the database gave: each claim is recorded as a crash (crash budget).
        this.#deps.log.error('Unexpected error recording step results', { error: (error as Error).message });
        for (const { claim } of batch) {
          const running = this.#inflight.get(claim.id);
          if (running?.claim.step_id === claim.step_id) void this.#recordFailure(running, 'crashed', serializeError(error));
        }
      }
    }
    this.#flushes--;
  }

  /**
   * Commits a batch of successes, retrying transient failures. A batch the database refuses is
   * halved until the refused result is alone; that one becomes a failure of its step (its error
   * says why the output could not be stored), and every other result is committed.
   */
  async #commitBatch(batch: PendingSuccess[]): Promise<void> {
    const { log, observer } = this.#deps;
    const startTime = Date.now();
    let recorded: Awaited<ReturnType<typeof commitSuccesses>> | undefined;
    try {
      recorded = await this.#persist('record step results', () => this.#commit(batch));
    } catch (error) {
      if (batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await this.#commitBatch(batch.slice(0, half));
        await this.#commitBatch(batch.slice(half));
        return;
      }
      const { claim } = batch[0]!;
      log.error('The database refused a step result; recording it as a failure', { step: claim.klass, job: claim.id, error: (error as Error).message });
      const running = this.#inflight.get(claim.id);
      if (running) {
        await this.#recordFailure(running, 'failure', {
          name: 'StepOutputRejected', code: 'step_output_rejected',
          message: `The database refused to store the output of step ${claim.klass}: ${(error as Error).message}`,
        });
      }
      return;
    }
    if (FAULTS_ENABLED) await faultPoint('after_job_commit');
    let advance = false;
    for (const { claim, output, next } of batch) {
      if (recorded && !recorded.committed.has(claim.id)) {
        // An earlier try of this commit may have committed after all, continuing the chain under a claim unknown here.
        if (next) this.#unknownClaimsSuspected = true;
        log.debug('Claim no longer held; result not recorded (the step runs again elsewhere)', { step: claim.klass, job: claim.id });
      }
      this.#observed(claim, recorded?.committed.has(claim.id) ? 'completed' : 'lost');
      const token = next && recorded?.continued.get(claim.id);
      if (next && token) {
        // Moved on in its own commit: an advancement like the advancer's (its span, its count).
        observer?.advanced([{
          pipeline: claim.pipeline_klass, pipelineId: claim.pipeline_id, runId: claim.run_id, branchId: claim.branch_id!, stepId: claim.step_id, step: claim.klass,
          node: claim.node, move: 'continue', traceContext: claim.trace_context,
        }], startTime);
        this.#finish(claim, false);
        this.#dispatch({
          ...claim, claim_token: token, retry_count: 0, crash_count: 0, step_id: next.id, klass: next.klass, node: next.node,
          to_transition: next.via, input: output, input_ref: claim.step_id, input_idx: null, idempotency_key: next.id,
          source_step_id: null, created_at: new Date(), queue_wait_s: 0,
        });
        continue;
      }
      if (recorded?.committed.has(claim.id) && claim.branch_id !== null) advance = true;
      this.#finish(claim, true);
    }
    if (advance) this.#wakeAdvancers(batch.map((b) => b.claim.pipeline_klass));
  }

  /**
   * Commits a batch of successes with their continuations. If continuing fails for a reason other
   * than the connection, the results are committed without continuations: the advancer then
   * routes those steps and applies its budgets.
   */
  async #commit(batch: PendingSuccess[]) {
    const { sql, processId, log } = this.#deps;
    const results: Success[] = batch.map(({ claim, output, next, delaySeconds, notBefore }) => ({
      job: claim, output, next, ...(delaySeconds ? { delaySeconds } : {}), ...(notBefore ? { notBefore } : {}),
    }));
    try {
      return await commitSuccesses(sql, results, processId);
    } catch (error) {
      if (retriable(error) || !results.some((r) => r.next)) throw error;
      log.debug('Continuing steps in their commit failed; leaving them to the advancer', { error: (error as Error).message });
      return commitSuccesses(sql, results.map(({ next: _, ...plain }) => plain), processId);
    }
  }

  async #recordFailure(running: Running, outcome: 'failure' | 'crashed', error: SerializedError): Promise<void> {
    this.#stopTimers(running);
    const { claim } = running;
    const { sql, config, log, wakeups, processId } = this.#deps;
    const { again, delayMs } = nextRun(config, outcome, { pipeline: claim.pipeline_klass, klass: claim.klass, retryCount: claim.retry_count, crashCount: claim.crash_count });
    const fields = { step: claim.klass, job: claim.id, error: `${error.name}: ${error.message}` };
    if (outcome === 'failure') {
      if (again) log.warn('Job errored', { ...fields, retry: claim.retry_count + 1, inMs: Math.round(delayMs) });
      else log.error('Job exhausted retries and failed', fields);
    } else if (again) log.warn('Job crashed; re-enqueued', { ...fields, crash: claim.crash_count + 1 });
    else log.error('Job exceeded crash limit and failed', fields);

    const record = (stored: ReturnType<typeof toStoredError>) => commitFailure(sql, { job: claim, outcome, again, delayMs, ...stored }, processId);
    let fenced: boolean | undefined;
    try {
      fenced = await this.#persist('record a step failure', () => record(toStoredError(error)));
    } catch (refused) {
      // Even the sanitized error was refused (it cannot be the data now): store the bare facts.
      log.error('The database refused a step failure; recording it without its message', { ...fields, refused: (refused as Error).message });
      fenced = await this.#persist('record a step failure', () =>
        record({ errorClass: storableText(error.name, 200).replace(/[^\x20-\x7e]/g, '?'), errorCode: null, errorMessage: 'error message not storable', errorStack: null }),
      ).catch((last: unknown) => {
        log.error('Could not record a step failure; the claim is left for recovery', { ...fields, error: (last as Error).message });
        return undefined;
      });
    }
    if (fenced === false) log.debug('Claim no longer held; failure not recorded', fields);
    this.#observed(claim, !fenced ? 'lost' : outcome === 'crashed' ? 'crashed' : error.code === 'step_timeout' ? 'timed_out' : 'failed', error);
    if (fenced && !again && claim.branch_id !== null) this.#wakeAdvancers([claim.pipeline_klass]);
    if (fenced && again && delayMs === 0) wakeups.signal(JOBS_CHANNEL);
    this.#finish(claim, true);
  }

  /**
   * Runs a commit, retrying through transient database failures: a finished step's result is kept
   * and retried rather than dropped. Rethrows a failure that is not transient (the caller isolates
   * it). Gives up on transient ones only once the engine is abandoning work at shutdown; the claim
   * then stays open and is re-run at once after the stop.
   */
  async #persist<T>(what: string, commit: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#call(commit(), what);
      } catch (error) {
        if (!retriable(error)) throw error;
        this.#unknownClaimsSuspected = true;
        this.#lateCommits.failed();
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
  #wakeAdvancers(pipelines: string[]): void {
    const { sql, config, wakeups, advancersElsewhere, log } = this.#deps;
    if (!advancersElsewhere) return wakeups.signal(ADVANCE_CHANNEL);
    for (const pipeline of new Set(pipelines)) {
      notifyWakeup(sql, config.database.schema, advanceChannel(pipeline)).catch((error: unknown) =>
        log.debug('Could not notify advancers; they will poll', { error: (error as Error).message }),
      );
    }
  }

  #call<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(work, this.#deps.config.database.call_timeout * 1000, what, this.#deps.sql).catch((error: unknown) => {
      // A call we stopped waiting for may still commit (a blackhole heals, a queue drains): once
      // it settles, look for claims it left that are unknown here.
      if (error instanceof DeadlineExceeded) work.then(this.#suspectUnknownClaims, this.#suspectUnknownClaims);
      throw error;
    });
  }

  readonly #suspectUnknownClaims = () => {
    this.#unknownClaimsSuspected = true;
  };

  #stopTimers(running: Running): void {
    for (const timer of running.timers) clearTimeout(timer);
    running.timers.length = 0;
  }

  /** Ends the attempt's span and counts its outcome. */
  #observed(claim: ClaimedJob, outcome: StepOutcome, error?: SerializedError): void {
    const running = this.#inflight.get(claim.id);
    if (running?.claim.step_id === claim.step_id) running.observation?.end(outcome, error && { name: error.name, code: error.code, message: error.message });
  }

  /** The step's slot is free (or, when `release` is false, taken over by its continuation). */
  #finish(claim: ClaimedJob, release: boolean): void {
    const running = this.#inflight.get(claim.id);
    if (running?.claim.step_id !== claim.step_id) return;
    this.#stopTimers(running);
    this.#inflight.delete(claim.id);
    this.#byToken.delete(running.claim.claim_token);
    this.#running.set(claim.pipeline_klass, this.#running.get(claim.pipeline_klass)! - 1);
    if (!release) return;
    this.#slotWaiter?.();
    if (this.#inflight.size === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}

/** Whether a failed write is worth retrying as it is (src/db/classify-error.ts decides for every loop). */
function retriable(error: unknown): boolean {
  return isTransientDbError(error);
}
