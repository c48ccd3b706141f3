/**
 * What the runner (bench/run.ts) and a system adapter (a child process) say to each other over
 * the `fork` IPC channel. Peer adapters are plain .mjs files and follow the same shapes.
 */

/** The workloads, by the steps they are made of. An adapter registers only the ones a cell uses. */
export type WorkKind = 'chain' | 'traced' | 'expand' | 'divide' | 'sleep' | 'many' | 'wait';

/** Work to enqueue: pre-queued before `start` (burn-down) or while running (latency, idle load). */
export type Work =
  /** `pipelines` chains of 10 no-op steps; `traced` ones report each step's entry and exit. */
  | { kind: 'chain' | 'traced'; pipelines: number; keyPrefix: string }
  /** One pipeline: a step returns `items` elements, one no-op step each, then one collapse. */
  | { kind: 'expand'; items: number; keyPrefix: string }
  /** `pipelines` × (a step divided into 8 lanes of 5 no-op steps, then one combine). */
  | { kind: 'divide'; pipelines: number; keyPrefix: string }
  /** `pipelines` one-step pipelines whose step reports its entry and sleeps `ms`. */
  | { kind: 'sleep'; pipelines: number; ms: number; keyPrefix: string }
  /** `pipelines` pipelines of one step whose branch then waits for an event that never comes (ductwork's waiting cell). */
  | { kind: 'wait'; pipelines: number; keyPrefix: string };

/**
 * The many-pipelines cell registers this many kinds of job (pipeline classes, queues, tasks) and
 * runs none of them: only the idle cost of serving them is measured.
 */
export const MANY_CLASSES = 20;

/** Every chain has this many steps (the ductwork pipelines are defined statically). */
export const CHAIN_STEPS = 10;
/** Divide/combine shape: lanes × steps per lane. */
export const LANES = 8;
export const LANE_STEPS = 5;

/** Steps one unit of `work` runs (the burn-down denominators). */
export function stepsOf(work: Work): number {
  switch (work.kind) {
    case 'chain':
    case 'traced':
      return work.pipelines * CHAIN_STEPS;
    case 'expand':
      return work.items + 2;
    case 'divide':
      return work.pipelines * (1 + LANES * LANE_STEPS + 1);
    case 'sleep':
    case 'wait':
      return work.pipelines;
  }
}

/** Pipelines (top-level units of work, each with one final step) in `work`. */
export function pipelinesOf(work: Work): number {
  return work.kind === 'expand' ? 1 : work.pipelines;
}

/** A step body's report: its key (pipeline), index in the chain, and wall-clock ms of entry/exit. */
export interface Entry {
  k: string;
  i: number;
  t0: number;
  t1?: number;
  /** The system's own count of crash re-runs of this step, where it exposes one (ductwork's `execution.crashCount`). */
  c?: number;
}

export type ConfigName = 'default' | 'tuned';

/** Everything a child needs to know about its cell. */
export interface Spec {
  system: string;
  config: ConfigName;
  scenario: string;
  dbUrl: string;
  /** Steps in flight per process in tuned configs (the same for every system). */
  concurrency: number;
  poolSize: number;
  uses: WorkKind[];
  /**
   * Recovery cells: every config runs this many steps in flight (so that a kill orphans them all),
   * and tuned peers apply their crash-recovery settings.
   */
  inflight?: number;
  /** Worker threads, where the system has them and the cell pins them (the idle cell: 2). */
  threads?: number;
  /** Retention keep-times for the retention cell (ductwork's `retention` keys). */
  retention?: { completed: string; halted: string; interval: number };
}

export type RunnerMessage =
  | { cmd: 'init'; spec: Spec }
  | { cmd: 'enqueue'; work: Work; live: boolean }
  | { cmd: 'start' }
  | { cmd: 'latency'; pipelines: number; warmup: number; capMs: number }
  | { cmd: 'forward'; on: boolean }
  | { cmd: 'remaining' }
  | { cmd: 'stop' };

export type ChildMessage =
  | {
      type: 'ready';
      version: string;
      /** The runner polls this SQL itself; without it, it asks the child (`remaining`). */
      remainingSql?: string;
      /** Schema whose pg_stat_user_tables counters are the system's row writes. */
      statsSchema?: string;
      /** Set when the system cannot run the cell's configuration (the cell reports n/a with this reason). */
      unsupported?: string;
    }
  | { type: 'remaining'; n: number; queries: number }
  | { type: 'enqueued'; ms: number }
  | { type: 'started'; t0: number; ms: number }
  | { type: 'latency'; trigger: number[]; step: number[]; pipelines: number; steps: number }
  | { type: 'entry'; e: Entry }
  | { type: 'stopped'; completed: number; queries: number }
  | { type: 'error'; message: string };

/** Wall-clock milliseconds, high resolution, comparable across threads and processes of one host. */
export const now = (): number => performance.timeOrigin + performance.now();
