import type { DuctworkConfig } from '../config/config.js';
import { withDeadline, type Sql } from '../db/connect.js';
import { crashClaims, openClaimsOf, orphanedClaims, type OpenClaim } from '../db/queries/jobs.js';
import { deleteProcess, lockDeadProcess, reapCandidates, type ReapCandidate } from '../db/queries/processes.js';
import { notifyWakeup } from '../db/notify.js';
import type { Logger } from '../log.js';
import type { EngineObserver } from '../observe/observer.js';
import { jitteredPollMs } from './backoff.js';
import { PassLoop } from './pass-loop.js';
import { crashDecision } from './budgets.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import type { ProcessLiveness } from './liveness.js';
import { advanceChannel, jobsChannel, type Wakeups } from './wakeups.js';

/** Seconds of silence (lock free) after which a process is presumed dead: three missed heartbeats. */
export function livenessGraceSeconds(config: DuctworkConfig): number {
  return Math.max(1, 3 * config.supervisor.polling_timeout);
}

/**
 * Finds dead engine processes and re-enqueues the steps they held, charging the crash budget.
 * Runs in every engine whatever its role; many reapers at once are safe (each process row is
 * reaped under its row lock, each claim ended by a token-fenced update), and none reaps itself.
 * Branch advancements need no reaping: they are single transactions that die with their owner.
 */
export class Reaper {
  readonly #sql: Sql;
  readonly #config: DuctworkConfig;
  readonly #liveness: ProcessLiveness;
  readonly #log: Logger;
  readonly #wakeups: Wakeups;
  readonly #observer: EngineObserver | undefined;
  readonly #loop = new PassLoop(async () => {
    try {
      await withDeadline(this.reapOnce(), this.#config.database.call_timeout * 1000, 'a reaper pass');
    } catch (error) {
      this.#log.warn('Reaper pass failed', { error: (error as Error).message });
    }
    return jitteredPollMs(this.#config.supervisor.polling_timeout);
  });

  constructor(options: { sql: Sql; config: DuctworkConfig; liveness: ProcessLiveness; log: Logger; wakeups: Wakeups; observer?: EngineObserver }) {
    this.#observer = options.observer;
    this.#sql = options.sql;
    this.#config = options.config;
    this.#liveness = options.liveness;
    this.#log = options.log;
    this.#wakeups = options.wakeups;
  }

  start(): void {
    this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** One pass: reap dead processes, then sweep claims nobody owns. Exposed for tests. */
  async reapOnce(): Promise<{ reaped: number; recovered: number }> {
    const grace = livenessGraceSeconds(this.#config);
    if (!this.#liveness.steadyFor(grace)) return { reaped: 0, recovered: 0 };
    let reaped = 0;
    let recovered = 0;
    for (const candidate of await reapCandidates(this.#sql, this.#liveness.processId, grace, this.#config.supervisor.reaper_timeout)) {
      const ended = await this.#reap(candidate);
      if (ended !== undefined) {
        reaped++;
        recovered += ended;
      }
    }
    const orphans = await orphanedClaims(this.#sql, Math.max(grace, 3 * this.#config.supervisor.reaper_timeout));
    if (orphans.length > 0) {
      const ended = await crashClaims(this.#sql, orphans.map((c) => crashDecision(this.#config, c)), 'OrphanedClaim', 'Swept a claim with no owning process record');
      this.#log.warn(`Swept ${ended.length} orphaned claims`);
      this.#observer?.reaped(ended.length);
      this.#wakeFor(orphans);
      recovered += ended.length;
    }
    return { reaped, recovered };
  }

  async #reap(candidate: ReapCandidate): Promise<number | undefined> {
    const outcome = await this.#sql.begin(async (tx) => {
      const dead = await lockDeadProcess(tx, candidate);
      if (!dead) return undefined;
      const claims = await openClaimsOf(tx, candidate.id);
      const message = `Reaped from a dead process (${candidate.host} pid ${candidate.pid}${candidate.stale ? ', heartbeat stale' : ', liveness lock free'})`;
      const ended = await crashClaims(tx, claims.map((c) => crashDecision(this.#config, c)), 'ProcessCrash', message);
      if (FAULTS_ENABLED) await faultPoint('during_reap');
      await deleteProcess(tx, candidate.id);
      return { claims, ended };
    });
    if (!outcome) return undefined;
    this.#observer?.reaped(outcome.ended.length);
    this.#log.warn('Reaped dead process', { process: candidate.id, host: candidate.host, pid: candidate.pid, claims: outcome.ended.length });
    this.#wakeFor(outcome.claims);
    return outcome.ended.length;
  }

  /** Re-enqueued steps and released advancements may belong to pipelines other processes run: wake them too (NOTIFY). */
  #wakeFor(claims: OpenClaim[]): void {
    for (const channel of new Set(claims.map((c) => (c.kind === 'run' ? jobsChannel : advanceChannel)(c.pipeline_klass)))) {
      this.#wakeups.signal(channel);
      notifyWakeup(this.#sql, this.#config.database.schema, channel).catch(() => {});
    }
  }
}
