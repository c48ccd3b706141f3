/**
 * Every configuration key, its type, default and unit, in one place. Times are in seconds, like
 * the YAML file. A "per pipeline" key takes a value or `{ default, <Pipeline>: value }`; a "per
 * step" key also takes `{ <Pipeline>: { default, <Step>: value } }`.
 */

export type Scope = 'global' | 'pipeline' | 'step';

export type KeySpec =
  | { kind: 'int'; default: number; min: number; scope: Scope; doc: string }
  | { kind: 'number'; default: number; min: number; scope: Scope; doc: string }
  /** Seconds, given as a number or a string with a unit ("30s", "24h", "7d"); the default is in seconds. */
  | { kind: 'duration'; default: number; scope: Scope; doc: string }
  | { kind: 'enum'; default: string; values: readonly string[]; doc: string }
  | { kind: 'string'; default: string | undefined; doc: string }
  | { kind: 'pipelines'; doc: string };

export interface SectionSpec {
  [key: string]: KeySpec | SectionSpec;
}

export const CONFIG_SCHEMA = {
  app: { kind: 'string', default: undefined, doc: 'Module that exports your pipeline classes (path or file URL); loaded by the engine and every worker thread.' },
  pipelines: { kind: 'pipelines', doc: 'Pipelines this process runs: "*" (all exported) or a list of names.' },
  role: { kind: 'enum', default: 'all', values: ['all', 'advancer', 'worker'], doc: 'Which loops run here: all, advancer only, or job workers only.' },
  forking: { kind: 'enum', default: 'none', values: ['none', 'default'], doc: 'none = one process with worker threads (default); default = one child process per role.' },
  database: {
    url: { kind: 'string', default: undefined, doc: 'PostgreSQL URL; falls back to DATABASE_URL.' },
    schema: { kind: 'string', default: 'ductwork', doc: "Schema holding Ductwork's tables." },
    pool_size: { kind: 'int', default: 10, min: 2, scope: 'global', doc: 'Connections in the engine pool.' },
    call_timeout: { kind: 'number', default: 60, min: 1, scope: 'global', doc: 'Seconds one engine database call may take: the statement_timeout of engine sessions (lock_timeout a third of it, at most 10 s); a call not answered by then is given up and its query canceled.' },
  },
  job_worker: {
    count: { kind: 'int', default: 5, min: 1, scope: 'pipeline', doc: 'Steps of one pipeline running at once in this process (one claim loop serves every pipeline; this bounds each in memory).' },
    threads: { kind: 'int', default: 0, min: 0, scope: 'global', doc: 'Worker threads in the pool; 0 = one per CPU.' },
    max_retry: { kind: 'int', default: 3, min: 0, scope: 'step', doc: 'Re-runs after a step throws, before the branch halts (job_retries_exhausted).' },
    max_crash: { kind: 'int', default: 10, min: 0, scope: 'step', doc: 'Re-runs after infrastructure failures (dead thread/process), before the branch halts (job_crashes_exhausted).' },
    polling_timeout: { kind: 'number', default: 1, min: 0, scope: 'global', doc: 'Seconds between polls when idle (±25% jitter); wake-ups usually come sooner.' },
    shutdown_timeout: { kind: 'number', default: 20, min: 0, scope: 'global', doc: 'Seconds a graceful stop waits for running steps before abandoning them for re-run.' },
    timeout: { kind: 'duration', default: 0, scope: 'step', doc: "Seconds one attempt of a step may run before `this.signal` aborts and the attempt fails with `step_timeout` (retry budget); 0 = none. A step class's `static timeout` applies unless this is set for its pipeline or step." },
    timeout_grace: { kind: 'duration', default: 10, scope: 'global', doc: 'Seconds a timed-out step may take to stop after its signal aborts; then its worker thread is terminated and the steps sharing that thread re-run (crash budget).' },
    crash_backoff: { kind: 'number', default: 10, min: 0, scope: 'global', doc: 'After the first third of max_crash re-ran at once, a crash re-run waits crash number × this many seconds.' },
    retry_backoff: {
      initial: { kind: 'number', default: 10, min: 0, scope: 'global', doc: 'Seconds before the first error retry.' },
      multiplier: { kind: 'number', default: 2, min: 1, scope: 'global', doc: 'Each further retry waits this many times longer.' },
      max: { kind: 'number', default: 3600, min: 0, scope: 'global', doc: 'Longest wait between retries before jitter, in seconds.' },
      jitter: { kind: 'number', default: 0.25, min: 0, scope: 'global', doc: 'Random spread of each wait, as a fraction (0.25 = ±25%).' },
    },
  },
  pipeline_advancer: {
    count: { kind: 'int', default: 3, min: 1, scope: 'global', doc: 'Concurrent advancer loops in this process (they serve every pipeline).' },
    batch_size: { kind: 'int', default: 50, min: 1, scope: 'global', doc: 'Branches one advancer transaction moves at most.' },
    max_retry: { kind: 'int', default: 10, min: 0, scope: 'global', doc: 'Routing errors tolerated per step before the branch halts (advancer_retries_exhausted).' },
    max_crash: { kind: 'int', default: 5, min: 0, scope: 'global', doc: 'Advancements of one step that died, timed out or could not be written, tolerated before the branch halts (advancer_crashes_exhausted).' },
    polling_timeout: { kind: 'number', default: 1, min: 0, scope: 'global', doc: 'Seconds between polls when idle (±25% jitter).' },
    shutdown_timeout: { kind: 'number', default: 20, min: 0, scope: 'global', doc: 'Seconds a graceful stop waits for advancing transactions.' },
    steps: {
      max_depth: { kind: 'int', default: 100_000, min: -1, scope: 'step', doc: 'Largest fan-out (expand elements / divide targets); larger ones halt with max_fanout_exceeded; -1 = unlimited.' },
    },
  },
  retention: {
    completed: { kind: 'duration', default: 604_800, scope: 'pipeline', doc: 'How long a completed pipeline is kept (and a keyed trigger deduplicates against it) before the cleaner deletes it; 0 = forever.' },
    halted: { kind: 'duration', default: 2_592_000, scope: 'pipeline', doc: 'How long a halted pipeline is kept (revivable) before the cleaner deletes it; 0 = forever.' },
    interval: { kind: 'duration', default: 60, scope: 'global', doc: 'Seconds between cleaner passes (one engine at a time runs them); 0 = no cleaner in this process.' },
    batch_size: { kind: 'int', default: 500, min: 1, scope: 'global', doc: 'Pipelines one cleaner transaction deletes at most.' },
  },
  supervisor: {
    polling_timeout: { kind: 'number', default: 1, min: 0, scope: 'global', doc: 'Seconds between supervisor heartbeats.' },
    reaper_timeout: { kind: 'number', default: 300, min: 1, scope: 'global', doc: 'Seconds without heartbeat after which a process is presumed dead.' },
    shutdown_timeout: { kind: 'number', default: 30, min: 0, scope: 'global', doc: 'Seconds the supervisor waits in total before forcing a stop.' },
  },
  dashboard: {
    username: { kind: 'string', default: undefined, doc: 'Basic-auth user of `ductwork dashboard`; with a password it may listen on any address, without one only on loopback.' },
    password: { kind: 'string', default: undefined, doc: 'Basic-auth password of `ductwork dashboard`; falls back to DUCTWORK_DASHBOARD_PASSWORD.' },
  },
  logger: {
    level: { kind: 'enum', default: 'info', values: ['debug', 'info', 'warn', 'error', 'silent'], doc: 'Lowest level logged.' },
    format: { kind: 'enum', default: 'auto', values: ['auto', 'pretty', 'json'], doc: 'pretty for terminals, json for one JSON object per line; auto picks json when stdout is not a TTY.' },
  },
} as const satisfies SectionSpec;
