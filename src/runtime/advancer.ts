import type { DuctworkConfig } from '../config/config.js';
import { DeadlineExceeded, withDeadline, type Sql } from '../db/connect.js';
import { classifyDbError } from '../db/classify-error.js';
import { claimAdvances, deferAdvance, lockAdvances, openClaimsOf, releaseAdvances, type ClaimedAdvance } from '../db/queries/jobs.js';
import { expandShapes, stepOutputs } from '../db/queries/steps.js';
import { lockRuns } from '../db/queries/runs.js';
import { notifyWakeup } from '../db/notify.js';
import type { DefinitionGraph } from '../definition/graph.js';
import type { Logger } from '../log.js';
import type { EngineObserver } from '../observe/observer.js';
import { advanceRetryDelayMs, jitteredPollMs, outageDelayMs, sleep } from './backoff.js';
import { applyMoves, type AppliedBatch } from './apply-moves.js';
import type { DefinitionCache } from './definition-cache.js';
import { planMove, TransitionError, type Move } from './route.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { LateCommitLooks } from './late-commits.js';
import { ADVANCE_CHANNEL, JOBS_CHANNEL, advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

export interface AdvancerDeps {
  sql: Sql;
  /** The pipelines this process advances. */
  pipelines: readonly string[];
  /** Which of the process's advancer loops this is (names it). */
  index: number;
  config: DuctworkConfig;
  processId: string;
  log: Logger;
  wakeups: Wakeups;
  definitions: DefinitionCache;
  /** No job worker runs in this process (role `advancer`): wake them by NOTIFY. */
  workersElsewhere: boolean;
  /** Advance claims this process's advancer loops are working on (shared by them), by job id. */
  routing: Set<string>;
  /** Spans and metrics of every advancement. */
  observer?: EngineObserver;
}

/**
 * One advancer loop, serving every pipeline of the process. A pass claims a batch of advance jobs
 * (finished steps whose branches must move) in its own statement, which counts each claim against
 * the advancer crash budget; then routes the whole batch in one transaction fenced by the claims.
 * If that transaction fails, each claim is routed alone in its own transaction, so the one that
 * cannot be routed gets its error recorded and the others move.
 */
export class Advancer {
  readonly #deps: AdvancerDeps;
  #running = false;
  #loop: Promise<void> | undefined;
  #busySince: number | undefined;
  /** A call we stopped waiting for has settled since: it may have claimed branches unknown here. */
  #lateCallSettled = false;
  /** A claim statement that failed may still commit on the server after the first look. */
  readonly #lateCommits: LateCommitLooks;

  constructor(deps: AdvancerDeps) {
    this.#deps = deps;
    this.#lateCommits = new LateCommitLooks(deps.config.database.call_timeout * 1000);
  }

  /** The loop's name in logs, hooks and thread dumps. */
  get name(): string {
    return `ductwork.pipeline_advancer.${this.#deps.index}`;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after the current pass; resolves when the loop has exited. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#deps.wakeups.signal(ADVANCE_CHANNEL);
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { log, wakeups, config } = this.#deps;
    let failures = 0;
    while (this.#running) {
      let moved = 0;
      try {
        if (failures > 0 || this.#lateCallSettled || this.#lateCommits.due()) {
          this.#lateCallSettled = false;
          await this.#releaseUnknownClaims();
        }
        moved = await this.advanceOnce();
        failures = 0;
      } catch (error) {
        log.warn('Advancer pass failed; retrying', { error: (error as Error).message });
        this.#lateCommits.failed();
        await sleep(outageDelayMs(failures++));
        continue;
      }
      if (moved === 0) await wakeups.wait(ADVANCE_CHANNEL, jitteredPollMs(config.pipeline_advancer.polling_timeout));
    }
  }

  /** What this loop is doing now, for thread dumps. */
  describe(): string {
    return this.#busySince === undefined ? 'idle (waiting for finished steps)' : `advancing branches for ${Math.round(performance.now() - this.#busySince)} ms`;
  }

  /**
   * Advance claims of this process that no advancer loop here works on: a claim statement whose
   * reply was lost, or a failed routing whose release failed too. No reaper frees them while this
   * process lives, so they are released (still counted against the crash budget).
   */
  async #releaseUnknownClaims(): Promise<void> {
    const { sql, processId, routing, log } = this.#deps;
    const unknown = (await this.#call(openClaimsOf(sql, processId), 'reading open claims')).filter((c) => c.kind === 'advance' && !routing.has(c.id));
    if (unknown.length === 0) return;
    await this.#call(releaseAdvances(sql, unknown), 'releasing advance claims');
    log.warn('Released advance claims whose routing was lost', { count: unknown.length });
  }

  /** One pass: claims a batch and routes it. Returns how many claims it took. Exposed for tests. */
  async advanceOnce(): Promise<number> {
    const { sql, pipelines, config, processId, routing } = this.#deps;
    const claims = await this.#call(claimAdvances(sql, pipelines, config.pipeline_advancer.batch_size, processId, this.#deps.observer?.tracing), 'claiming branches to advance');
    if (claims.length === 0) return 0;
    for (const claim of claims) routing.add(claim.id);
    this.#busySince = performance.now();
    try {
      if (FAULTS_ENABLED) await faultPoint('after_branch_claim');
      try {
        await this.#route(claims);
      } catch (error) {
        this.#deps.log.debug('Advancer batch failed; routing its branches one by one', { error: (error as Error).message, branches: claims.length });
        for (const claim of claims) await this.#routeAlone(claim);
      }
    } finally {
      this.#busySince = undefined;
      for (const claim of claims) routing.delete(claim.id);
    }
    return claims.length;
  }

  /** Routes claims in one transaction; the claims that were lost meanwhile are skipped. */
  async #route(claims: ClaimedAdvance[]): Promise<void> {
    const { sql, config, definitions, wakeups } = this.#deps;
    const graphs = new Map<string, DefinitionGraph>();
    for (const claim of claims) graphs.set(claim.run_id, await definitions.get(sql, claim.definition_sha1));
    let batch: AppliedBatch | undefined;
    let routed: Move[] = [];
    const startTime = Date.now();
    const transaction = sql.begin(async (tx) => {
      await lockRuns(tx, [...new Set(claims.map((c) => c.run_id))].sort());
      const held = await lockAdvances(tx, claims);
      const mine = claims.filter((c) => held.has(c.id));
      if (mine.length === 0) return;
      const edgeOf = (c: ClaimedAdvance) => graphs.get(c.run_id)!.edges[c.node]?.type;
      const live = mine.filter((c) => c.step_status === 'completed' && c.crash_count - 1 <= config.pipeline_advancer.max_crash);
      const [outputs, shapes] = await Promise.all([
        stepOutputs(tx, live.filter((c) => edgeOf(c) === 'divert').map((c) => c.step_id)),
        expandShapes(tx, live.filter((c) => edgeOf(c) === 'expand').map((c) => c.step_id)),
      ]);
      const moves = mine.map((claim) =>
        planMove(claim, { config, graph: graphs.get(claim.run_id)!, output: outputs.get(claim.step_id), shape: shapes.get(claim.step_id) }),
      );
      batch = await applyMoves(tx, moves, (runId) => graphs.get(runId), { runsLocked: true });
      routed = moves;
      if (FAULTS_ENABLED) await faultPoint('after_branch_advancement');
      // Delivered at commit, so a worker elsewhere cannot look before the steps are visible.
      if (batch.enqueued.size > 0 && this.#deps.workersElsewhere) {
        for (const pipeline of batch.enqueued.keys()) await notifyWakeup(tx, config.database.schema, jobsChannel(pipeline));
      }
    });
    await this.#call(transaction, 'an advancing transaction');
    if (FAULTS_ENABLED) await faultPoint('after_advance_commit');
    if (!batch) return;
    this.#report(batch, routed, startTime);
    if (batch.enqueued.size > 0) wakeups.signal(JOBS_CHANNEL);
    if (batch.releasedParents?.length) {
      wakeups.signal(ADVANCE_CHANNEL);
      for (const pipeline of new Set(batch.releasedParents)) await notifyWakeup(sql, config.database.schema, advanceChannel(pipeline)).catch(() => {});
    }
  }

  /**
   * Routes one claim in a transaction of its own after its batch failed. A routing error is
   * recorded on the claim (retried with backoff until `pipeline_advancer.max_retry`, at once for
   * an error retrying cannot fix); a failure that is not a routing error (a timeout, a lost
   * connection) releases the claim, which stays counted against the advancer crash budget.
   */
  async #routeAlone(claim: ClaimedAdvance): Promise<void> {
    const { sql, log } = this.#deps;
    try {
      await this.#route([claim]);
      return;
    } catch (error) {
      const message = `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
      log.error('Branch advancement errored', { branch: claim.branch_id, step: claim.klass, error: message });
      try {
        if (isRoutingError(error)) await this.#recordRoutingError(claim, error, message);
        else await this.#call(releaseAdvances(sql, [claim]), 'releasing an advance claim');
      } catch (recordError) {
        // The claim stays ours: the next pass after a failure releases claims no loop works on.
        log.warn('Could not record a failed advancement', { branch: claim.branch_id, error: (recordError as Error).message });
        throw recordError;
      }
    }
  }

  /** A routing error: halt at once if retrying cannot help or the budget is spent, else retry later. */
  async #recordRoutingError(claim: ClaimedAdvance, error: unknown, message: string): Promise<void> {
    const { sql, config } = this.#deps;
    const hopeless = error instanceof TransitionError || error instanceof SyntaxError;
    if (hopeless || claim.retry_count + 1 > config.pipeline_advancer.max_retry) {
      const halt: Move = { kind: 'halt', claim, reason: hopeless ? 'transition_invalid' : 'advancer_retries_exhausted', detail: message };
      const graph = await this.#deps.definitions.get(sql, claim.definition_sha1);
      let batch: AppliedBatch | undefined;
      const startTime = Date.now();
      await this.#call(sql.begin(async (tx) => {
        await lockRuns(tx, [claim.run_id]);
        if ((await lockAdvances(tx, [claim])).size === 0) return;
        batch = await applyMoves(tx, [halt], () => graph, { runsLocked: true });
      }), 'halting a branch');
      if (batch) this.#report(batch, [halt], startTime);
      return;
    }
    await this.#call(deferAdvance(sql, claim, advanceRetryDelayMs(claim.retry_count), message), 'deferring an advancement');
  }

  /** Logs what a batch did, and hands its moves to the observer (spans, metrics). */
  #report(batch: AppliedBatch, moves: Move[], startTime: number): void {
    const { log, observer } = this.#deps;
    observer?.advanced(moves.map(({ claim, kind, ...move }) => ({
      pipeline: claim.pipeline_klass, pipelineId: claim.pipeline_id, runId: claim.run_id, branchId: claim.branch_id, stepId: claim.step_id, step: claim.klass,
      node: claim.node, move: kind, haltReason: 'reason' in move ? move.reason : undefined, traceContext: claim.trace_context,
    })), startTime);
    for (const move of batch.halted) log.warn('Branch halted', { branch: move.claim.branch_id, reason: move.reason, step: move.claim.klass, detail: move.detail });
    for (const run of batch.resolved) {
      if (run.status === 'halted') log.warn('Pipeline halted', { run: run.id });
      else log.debug('Pipeline completed', { run: run.id });
    }
  }

  #call<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(work, this.#deps.config.database.call_timeout * 1000, what, this.#deps.sql).catch((error: unknown) => {
      if (error instanceof DeadlineExceeded) work.then(this.#noteLateCall, this.#noteLateCall);
      throw error;
    });
  }

  readonly #noteLateCall = () => {
    this.#lateCallSettled = true;
    this.#deps.wakeups.signal(ADVANCE_CHANNEL);
  };
}

/**
 * Whether a failed routing was the claim's own fault (a definition or output it cannot route, or a
 * write the database refuses), as opposed to the database being slow or unreachable.
 */
function isRoutingError(error: unknown): boolean {
  if (error instanceof TransitionError || error instanceof SyntaxError) return true;
  // Anything the database (or the driver) would answer the same way again: bad data, a refused write, a bug.
  return classifyDbError(error) === 'permanent';
}
