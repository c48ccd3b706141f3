import { settingFor, type DuctworkConfig } from '../config/config.js';
import { noteDatabaseError, withDeadline, type Sql, type TxSql } from '../db/connect.js';
import { deferAdvance, lockAdvanceableBranches, type AdvanceableBranch } from '../db/queries/branches.js';
import { runDefinition } from '../db/queries/runs.js';
import type { DefinitionGraph } from '../definition/graph.js';
import type { Logger } from '../log.js';
import { advanceRetryDelayMs, jitteredPollMs, outageDelayMs, sleep } from './backoff.js';
import { advanceBranch, haltAfterRoutingError, TransitionError, type RouteOutcome } from './route.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

export interface AdvancerDeps {
  sql: Sql;
  pipeline: string;
  /** Which of the pipeline's advancer loops this is (names it). */
  index: number;
  config: DuctworkConfig;
  log: Logger;
  wakeups: Wakeups;
  definitions: DefinitionCache;
}

/** Definitions by run id; runs never change their definition, so entries never go stale. */
export class DefinitionCache {
  readonly #byRun = new Map<string, DefinitionGraph>();
  constructor(readonly limit = 2000) {}

  async get(sql: TxSql | Sql, runId: string): Promise<DefinitionGraph> {
    const cached = this.#byRun.get(runId);
    if (cached) return cached;
    const graph = await runDefinition(sql, runId);
    if (!graph) throw new TransitionError(`run ${runId} has no definition`);
    if (this.#byRun.size >= this.limit) this.#byRun.delete(this.#byRun.keys().next().value!);
    this.#byRun.set(runId, graph);
    return graph;
  }
}

/**
 * An advancer loop of one pipeline. Each pass is one transaction: lock a batch of branches whose
 * step finished (SKIP LOCKED, so loops and processes never take the same branch), route each,
 * commit. A dead advancer's transaction rolls back and its locks vanish with its connection, so
 * there is no advancement to recover after a crash.
 */
export class Advancer {
  readonly #deps: AdvancerDeps;
  readonly #pollSeconds: number;
  #running = false;
  #loop: Promise<void> | undefined;
  #busySince: number | undefined;

  constructor(deps: AdvancerDeps) {
    this.#deps = deps;
    this.#pollSeconds = settingFor(deps.config.pipeline_advancer.polling_timeout, 1, deps.pipeline);
  }

  /** The loop's name in logs, hooks and thread dumps. */
  get name(): string {
    return `ductwork.pipeline_advancer.${this.#deps.pipeline}.${this.#deps.index}`;
  }

  get pipeline(): string {
    return this.#deps.pipeline;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after the current transaction; resolves when the loop has exited. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#deps.wakeups.signal(advanceChannel(this.#deps.pipeline));
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { log, wakeups, pipeline } = this.#deps;
    let failures = 0;
    while (this.#running) {
      let moved = 0;
      try {
        moved = await this.advanceOnce();
        failures = 0;
      } catch (error) {
        noteDatabaseError(error);
        log.warn('Advancer pass failed; retrying', { error: (error as Error).message });
        await sleep(outageDelayMs(failures++));
        continue;
      }
      if (moved === 0) await wakeups.wait(advanceChannel(pipeline), jitteredPollMs(this.#pollSeconds));
    }
  }

  /**
   * One pass: returns how many branches were locked. The fast pass routes the whole batch in one
   * transaction; if it fails, the batch is redone carefully, each branch in a savepoint, so the
   * failing branch gets its error recorded and the others still move. Exposed for tests.
   */
  async advanceOnce(): Promise<number> {
    this.#busySince = performance.now();
    try {
      return await this.#pass(false);
    } catch (error) {
      this.#deps.log.debug('Advancer batch failed; redoing it branch by branch', { error: (error as Error).message });
      return await this.#pass(true);
    } finally {
      this.#busySince = undefined;
    }
  }

  /** What this loop is doing now, for thread dumps. */
  describe(): string {
    return this.#busySince === undefined ? 'idle (waiting for finished steps)' : `advancing branches for ${Math.round(performance.now() - this.#busySince)} ms`;
  }

  async #pass(careful: boolean): Promise<number> {
    const { sql, pipeline, config, wakeups } = this.#deps;
    let enqueued = 0;
    const transaction = sql.begin(async (tx) => {
      const rows = await lockAdvanceableBranches(tx, pipeline, config.pipeline_advancer.batch_size);
      if (FAULTS_ENABLED && rows.length > 0) await faultPoint('after_branch_claim');
      // Same-run branches together and runs in a stable order: run-row locks are then taken in order.
      rows.sort((a, b) => (a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0));
      for (const row of rows) {
        const outcome = careful ? await this.#advanceCarefully(tx, row) : await this.#advance(tx, row);
        enqueued += outcome.enqueued;
      }
      if (FAULTS_ENABLED && rows.length > 0) await faultPoint('after_branch_advancement');
      return rows.length;
    });
    const count = await withDeadline(transaction, config.database.call_timeout * 1000, 'an advancing transaction');
    if (FAULTS_ENABLED && count > 0) await faultPoint('after_advance_commit');
    if (enqueued > 0) wakeups.signal(jobsChannel(pipeline));
    return count;
  }

  async #advance(tx: TxSql, row: AdvanceableBranch): Promise<RouteOutcome> {
    const graph = await this.#deps.definitions.get(tx, row.run_id);
    const outcome = await advanceBranch(tx, row, { config: this.#deps.config, pipeline: this.#deps.pipeline, graph });
    if (outcome.halted) this.#deps.log.warn('Branch halted', { branch: row.branch_id, reason: outcome.halted, step: row.klass });
    if (outcome.runResolved === 'halted') this.#deps.log.warn('Pipeline halted', { run: row.run_id, pipeline: row.pipeline_id });
    if (outcome.runResolved === 'completed') this.#deps.log.debug('Pipeline completed', { run: row.run_id, pipeline: row.pipeline_id });
    return outcome;
  }

  async #advanceCarefully(tx: TxSql, row: AdvanceableBranch): Promise<RouteOutcome> {
    try {
      return await tx.savepoint((sp) => this.#advance(sp as unknown as TxSql, row));
    } catch (error) {
      return this.#recordRoutingError(tx, row, error);
    }
  }

  /** A routing error: halt at once if retrying cannot help or the budget is spent, else retry later. */
  async #recordRoutingError(tx: TxSql, row: AdvanceableBranch, error: unknown): Promise<RouteOutcome> {
    const { config, log, pipeline } = this.#deps;
    const message = `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
    log.error('Branch advancement errored', { branch: row.branch_id, step: row.klass, error: message, stack: (error as Error)?.stack });
    const maxRetry = config.pipeline_advancer.max_retry;
    if (error instanceof TransitionError || error instanceof SyntaxError || row.advance_errors + 1 > maxRetry) {
      const reason = error instanceof TransitionError || error instanceof SyntaxError ? 'transition_invalid' : 'advancer_retries_exhausted';
      const graph = await this.#deps.definitions.get(tx, row.run_id).catch(() => ({ version: 1, nodes: [], edges: {}, metadata: {} }) as DefinitionGraph);
      return tx.savepoint((sp) => haltAfterRoutingError(sp as unknown as TxSql, row, { config, pipeline, graph }, reason, message));
    }
    await deferAdvance(tx, row.branch_id, advanceRetryDelayMs(row.advance_errors), message);
    return { enqueued: 0 };
  }
}
