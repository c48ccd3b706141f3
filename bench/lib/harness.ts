/**
 * Child side of the runner protocol, shared by every adapter (ductwork's, and the peers' .mjs
 * files import the compiled dist/bench/lib/harness.js). An adapter only says how its system sets
 * up, enqueues, starts and stops; timing and the latency loop live here, the same for all.
 */
import { CHAIN_STEPS, now, type ChildMessage, type Entry, type RunnerMessage, type Spec, type Work } from './protocol.js';

export interface SystemUnderTest {
  version: string;
  /**
   * One row with an integer column `n`: units of work not finished yet (the runner polls it on a
   * connection of its own). A system whose tables the bench must not read leaves it out and
   * implements `remaining` instead.
   */
  remainingSql?: string;
  /** Units of work not finished yet, and how many queries the system ran to find out (cumulative). */
  remaining?(): Promise<{ n: number; queries: number }>;
  /** The schema holding the system's tables (its row writes are read from pg_stat_user_tables). */
  statsSchema?: string;
  /** Why this system cannot run the cell's configuration, when it cannot. */
  unsupported?: string;
  /** Queries `remaining` and `completedSteps` ran so far (the runner subtracts them from the commits). */
  readonly probeQueries?: number;
  setup(): Promise<void>;
  /** `live: false` = before start, through a pool closed afterwards; `live: true` = while running. */
  enqueue(work: Work, live: boolean): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Step bodies completed so far (for capped cells). */
  completedSteps(): Promise<number>;
}

/** Builds the system for a cell; `emit` takes every step-entry report of traced/sleep steps. */
export type Factory = (spec: Spec, emit: (entry: Entry) => void) => Promise<SystemUnderTest>;

export function runAdapter(factory: Factory): void {
  let system: SystemUnderTest | undefined;
  let forward = false;
  const chains = new Map<string, { entries: Entry[]; done: () => void }>();
  const send = (message: ChildMessage) => process.send!(message);

  const emit = (entry: Entry) => {
    if (forward) send({ type: 'entry', e: entry });
    const chain = chains.get(entry.k);
    if (!chain) return;
    chain.entries.push(entry);
    if (entry.i === CHAIN_STEPS - 1) chain.done();
  };

  /** Sequential traced chains at idle: trigger → first step entry, step k exit → step k+1 entry. */
  async function latency(pipelines: number, warmup: number, capMs: number) {
    const trigger: number[] = [];
    const step: number[] = [];
    const deadline = now() + capMs;
    let measured = 0;
    for (let r = 0; r < warmup + pipelines && now() < deadline; r++) {
      const keyPrefix = `lat${r}`;
      const key = `${keyPrefix}-0`;
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      const chain = { entries: [] as Entry[], done };
      chains.set(key, chain);
      const t = now();
      await system!.enqueue({ kind: 'traced', pipelines: 1, keyPrefix }, true);
      const left = deadline - now();
      const timedOut = await Promise.race([finished.then(() => false), sleep(Math.max(0, left)).then(() => true)]);
      chains.delete(key);
      if (timedOut) break;
      if (r < warmup) continue;
      const byIndex = [...chain.entries].sort((a, b) => a.i - b.i);
      trigger.push(byIndex[0]!.t0 - t);
      for (let i = 1; i < byIndex.length; i++) step.push(byIndex[i]!.t0 - byIndex[i - 1]!.t1!);
      measured++;
    }
    return { trigger, step, pipelines: measured, steps: measured * CHAIN_STEPS };
  }

  process.on('message', async (message: RunnerMessage) => {
    try {
      switch (message.cmd) {
        case 'init': {
          system = await factory(message.spec, emit);
          await system.setup();
          send({
            type: 'ready', version: system.version,
            ...(system.remainingSql === undefined ? {} : { remainingSql: system.remainingSql }),
            ...(system.statsSchema === undefined ? {} : { statsSchema: system.statsSchema }),
            ...(system.unsupported === undefined ? {} : { unsupported: system.unsupported }),
          });
          break;
        }
        case 'enqueue': {
          const t = now();
          await system!.enqueue(message.work, message.live);
          send({ type: 'enqueued', ms: now() - t });
          break;
        }
        case 'start': {
          const t0 = now();
          await system!.start();
          send({ type: 'started', t0, ms: now() - t0 });
          break;
        }
        case 'latency':
          send({ type: 'latency', ...(await latency(message.pipelines, message.warmup, message.capMs)) });
          break;
        case 'forward':
          forward = message.on;
          break;
        case 'remaining': {
          if (!system!.remaining) throw new Error(`${message.cmd}: this adapter has remainingSql; the runner polls it itself`);
          send({ type: 'remaining', ...(await system!.remaining()) });
          break;
        }
        case 'stop': {
          const completed = await system!.completedSteps().catch(() => -1);
          await system!.stop();
          send({ type: 'stopped', completed, queries: system!.probeQueries ?? 0 });
          process.disconnect();
          // Give the IPC channel a moment to flush, then leave even if a handle lingers.
          setTimeout(() => process.exit(0), 200).unref();
          break;
        }
      }
    } catch (error) {
      send({ type: 'error', message: (error as Error)?.stack ?? String(error) });
    }
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Splits `n` items into arrays of at most `size` (enqueues go in batches of 1,000). */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
