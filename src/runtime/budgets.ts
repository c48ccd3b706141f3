import { settingFor, type DuctworkConfig } from '../config/config.js';
import type { Crash, OpenClaim } from '../db/queries/jobs.js';
import { crashDelayMs, retryDelayMs } from './backoff.js';

/** Whether a step runs again after a failure or crash, and after how long. */
export interface NextRun {
  again: boolean;
  delayMs: number;
}

/**
 * The two budgets of a step: user errors use `max_retry` (exponential backoff), infrastructure
 * crashes use `max_crash` (first third at once, then linear); neither consumes the other.
 */
export function nextRun(
  config: DuctworkConfig,
  outcome: 'failure' | 'crashed',
  at: { pipeline: string; klass: string; retryCount: number; crashCount: number },
): NextRun {
  if (outcome === 'failure') {
    const maxRetry = settingFor(config.job_worker.max_retry, 3, at.pipeline, at.klass);
    return { again: at.retryCount < maxRetry, delayMs: retryDelayMs(config.job_worker.retry_backoff, at.retryCount) };
  }
  const maxCrash = settingFor(config.job_worker.max_crash, 10, at.pipeline, at.klass);
  return { again: at.crashCount < maxCrash, delayMs: crashDelayMs(maxCrash, at.crashCount + 1, config.job_worker.crash_backoff) };
}

/** An open claim ended as crashed (reaped, swept or abandoned), with its crash-budget decision. */
export function crashDecision(config: DuctworkConfig, claim: OpenClaim): Crash {
  const next = nextRun(config, 'crashed', { pipeline: claim.pipeline_klass, klass: claim.klass, retryCount: claim.retry_count, crashCount: claim.crash_count });
  return { id: claim.id, token: claim.claim_token, ...next };
}
