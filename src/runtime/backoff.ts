import type { DuctworkConfig } from '../config/config.js';

/** `seconds` ±25% uniform, in milliseconds: pollers started together must not stay in lockstep. */
export function jitteredPollMs(seconds: number): number {
  return Math.max(0, seconds * 1000 * (1 + (Math.random() * 0.5 - 0.25)));
}

/** Delay before error retry number `retryCount + 1`: exponential with jitter, capped. */
export function retryDelayMs(backoff: DuctworkConfig['job_worker']['retry_backoff'], retryCount: number): number {
  const base = Math.min(backoff.max, backoff.initial * backoff.multiplier ** retryCount);
  const spread = base * backoff.jitter;
  return Math.max(0, (base + (Math.random() * 2 - 1) * spread) * 1000);
}

/**
 * Delay before a crash re-run: the first third of the crash budget re-runs at once (a deploy
 * or an OOM kill should not delay work), later ones wait crash number × `stepSeconds` (10 s).
 */
export function crashDelayMs(maxCrash: number, newCrashCount: number, stepSeconds = 10): number {
  return newCrashCount <= Math.floor(maxCrash / 3) ? 0 : newCrashCount * stepSeconds * 1000;
}

/** Delay before an advancer retries a branch whose routing failed. */
export function advanceRetryDelayMs(errors: number): number {
  return Math.min(60_000, 100 * 2 ** errors);
}

/** Delay for a loop whose database call failed: grows to 5 s, with jitter. */
export function outageDelayMs(failures: number): number {
  return Math.min(5_000, 50 * 2 ** failures) * (0.75 + Math.random() * 0.5);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
