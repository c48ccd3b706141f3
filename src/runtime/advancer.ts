import { settingFor, type DuctworkConfig } from '../config/config.js';
import { noteDatabaseError, withDeadline, type Sql, type TxSql } from '../db/connect.js';
import { deferAdvance, lockAdvanceableBranches, type AdvanceableBranch } from '../db/queries/branches.js';
import { analyzeFanOutTables } from '../db/queries/statistics.js';
import { notifyWakeup } from '../db/notify.js';
import type { DefinitionGraph } from '../definition/graph.js';
import type { Logger } from '../log.js';
import { advanceRetryDelayMs, jitteredPollMs, outageDelayMs, sleep } from './backoff.js';
import { applyMoves, type AppliedBatch } from './apply-moves.js';
import type { DefinitionCache } from './definition-cache.js';
import { planMove, TransitionError, type Move } from './route.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

/** Steps one pass enqueues from which the tables' statistics are refreshed at once. */
const BULK_FAN_OUT = 1000;
/** One ANALYZE at a time per process, whichever loop asked for it. */
let analyzing: Promise<unknown> | undefined;

export interface AdvancerDeps {
  sql: Sql;
  pipeline: string;
  /** Which of the pipeline's advancer loops this is (names it). */
  index: number;
  config: DuctworkConfig;
  log: Logger;
  wakeups: Wakeups;
  definitions: DefinitionCache;
  /** No job worker of this pipeline runs in this process (role `advancer`): wake them by NOTIFY. */
  workersElsewhere: boolean;
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
      if (rows.length === 0) return 0;
      // Same-run branches together and runs in a stable order.
      rows.sort((a, b) => (a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0));
      const graphs = new Map<string, DefinitionGraph>();
      const graphOf = (runId: string) => graphs.get(runId);
      if (careful) {
        for (const row of rows) enqueued += await this.#advanceCarefully(tx, row, graphs);
      } else {
        for (const row of rows) graphs.set(row.run_id, await this.#deps.definitions.get(tx, row.run_id, row.definition_sha1));
        const moves = rows.map((row) => planMove(row, { config, pipeline, graph: graphs.get(row.run_id)! }));
        enqueued += this.#report(await applyMoves(tx, moves, pipeline, graphOf));
      }
      if (FAULTS_ENABLED) await faultPoint('after_branch_advancement');
      // Delivered at commit, so a worker elsewhere cannot look before the steps are visible.
      if (enqueued > 0 && this.#deps.workersElsewhere) await notifyWakeup(tx, config.database.schema, jobsChannel(pipeline));
      return rows.length;
    });
    const count = await withDeadline(transaction, config.database.call_timeout * 1000, 'an advancing transaction');
    if (FAULTS_ENABLED && count > 0) await faultPoint('after_advance_commit');
    if (enqueued > 0) wakeups.signal(jobsChannel(pipeline));
    if (enqueued >= BULK_FAN_OUT) this.#refreshStatistics();
    return count;
  }

  /** After a bulk insert, in the background: a stale plan must not outlive the fan-out that made it stale. */
  #refreshStatistics(): void {
    if (analyzing) return;
    analyzing = analyzeFanOutTables(this.#deps.sql)
      .catch((error: unknown) => this.#deps.log.debug('Could not analyze after a large fan-out', { error: (error as Error).message }))
      .finally(() => (analyzing = undefined));
  }

  /** Logs what a batch did; returns how many steps it enqueued. */
  #report(batch: AppliedBatch): number {
    const { log } = this.#deps;
    for (const move of batch.halted) log.warn('Branch halted', { branch: move.row.branch_id, reason: move.reason, step: move.row.klass });
    for (const run of batch.resolved) {
      if (run.status === 'halted') log.warn('Pipeline halted', { run: run.id });
      else log.debug('Pipeline completed', { run: run.id });
    }
    return batch.enqueued;
  }

  /** Routes one branch in a savepoint; a failure is recorded on that branch alone. */
  async #advanceCarefully(tx: TxSql, row: AdvanceableBranch, graphs: Map<string, DefinitionGraph>): Promise<number> {
    const { config, pipeline, definitions } = this.#deps;
    try {
      return await tx.savepoint(async (sp) => {
        const graph = await definitions.get(sp, row.run_id, row.definition_sha1);
        graphs.set(row.run_id, graph);
        return this.#report(await applyMoves(sp as unknown as TxSql, [planMove(row, { config, pipeline, graph })], pipeline, (id) => graphs.get(id)));
      });
    } catch (error) {
      return this.#recordRoutingError(tx, row, graphs, error);
    }
  }

  /** A routing error: halt at once if retrying cannot help or the budget is spent, else retry later. */
  async #recordRoutingError(tx: TxSql, row: AdvanceableBranch, graphs: Map<string, DefinitionGraph>, error: unknown): Promise<number> {
    const { config, log, pipeline } = this.#deps;
    const message = `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
    log.error('Branch advancement errored', { branch: row.branch_id, step: row.klass, error: message, stack: (error as Error)?.stack });
    const maxRetry = config.pipeline_advancer.max_retry;
    if (error instanceof TransitionError || error instanceof SyntaxError || row.advance_errors + 1 > maxRetry) {
      const reason = error instanceof TransitionError || error instanceof SyntaxError ? 'transition_invalid' : 'advancer_retries_exhausted';
      const halt: Move = { kind: 'halt', row, reason, detail: message };
      return tx.savepoint(async (sp) => this.#report(await applyMoves(sp as unknown as TxSql, [halt], pipeline, (id) => graphs.get(id))));
    }
    await deferAdvance(tx, row.branch_id, advanceRetryDelayMs(row.advance_errors), message);
    return 0;
  }
}
