/**
 * Named fault points for crash tests: `DUCTWORK_FAULT=<point>:<action>[@<n>]` makes the process
 * fail at that point the first time it is reached (or the n-th time, so a test can let batches
 * grow first). Actions: `kill` (SIGKILL itself: nothing runs after), `exit` (exit code 1, no
 * cleanup), `raise` (throw {@link FaultInjected}), `sleep` (pause 1 s, or `sleep=<ms>`). Unset, a
 * fault point costs one comparison.
 */

/** Every gap between two durable writes that has a name. */
export const FAULT_POINTS = [
  'after_job_claim',
  'before_job_commit',
  'after_job_commit',
  'after_branch_claim',
  'after_branch_advancement',
  'after_fan_in_arrival',
  'after_advance_commit',
  'during_reap',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

/** Thrown by the `raise` action. */
export class FaultInjected extends Error {
  override name = 'FaultInjected';
}

const spec = parse(process.env.DUCTWORK_FAULT);
let fired = false;
let reached = 0;

/** True only when DUCTWORK_FAULT is set: call sites test it before awaiting {@link faultPoint}. */
export const FAULTS_ENABLED = spec !== undefined;

function parse(value: string | undefined): { point: FaultPoint; action: string; arg: number; nth: number } | undefined {
  if (!value) return undefined;
  const [spec, nth = '1'] = value.split('@');
  const [point, rawAction = 'kill'] = spec!.split(':');
  const [action, arg] = rawAction.split('=');
  if (!FAULT_POINTS.includes(point as FaultPoint) || !['kill', 'exit', 'raise', 'sleep'].includes(action!) || !/^[1-9]\d*$/.test(nth)) {
    throw new Error(`DUCTWORK_FAULT="${value}": expected <point>:<kill|exit|raise|sleep>[@<n>], point one of ${FAULT_POINTS.join(', ')}`);
  }
  return { point: point as FaultPoint, action: action!, arg: Number(arg ?? 1000), nth: Number(nth) };
}

/** Fails here if DUCTWORK_FAULT names this point and this is its n-th arrival (once per process). */
export async function faultPoint(point: FaultPoint): Promise<void> {
  if (spec === undefined || spec.point !== point || fired || ++reached < spec.nth) return;
  fired = true;
  process.stderr.write(`ductwork: fault point ${point} reached, action ${spec.action} (pid ${process.pid})\n`);
  switch (spec.action) {
    case 'kill':
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => {}); // SIGKILL lands before anything else runs
      return;
    case 'exit':
      process.exit(1);
    case 'raise':
      throw new FaultInjected(`fault injected at ${point}`);
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, spec.arg));
  }
}
