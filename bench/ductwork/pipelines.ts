/**
 * The pipelines the benchmark runs on ductwork, loaded like a user's app module (by the engine's
 * main thread and by every worker thread). Throughput steps are true no-ops; only traced and
 * sleeping steps report their entry (to the adapter's main thread, over a BroadcastChannel).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { Pipeline, Step } from '../../src/index.js';
import { CHAIN_STEPS, LANES, LANE_STEPS, now, type Entry } from '../lib/protocol.js';

export const CHANNEL = 'ductwork-bench';
let channel: BroadcastChannel | undefined;
function report(entry: Entry): void {
  if (!channel) {
    channel = new BroadcastChannel(CHANNEL);
    channel.unref();
  }
  channel.postMessage(entry);
}

type Ok = { ok: true };

/** The no-op step of every throughput scenario. */
export class Noop extends Step {
  execute(_input: unknown): Ok {
    return { ok: true };
  }
}

/** A no-op that reports when it ran, for the latency scenario. */
export class Traced extends Step {
  execute(input: { k: string; i: number }): { k: string; i: number } {
    const t0 = now();
    report({ k: input.k, i: input.i, t0, t1: now() });
    return { k: input.k, i: input.i + 1 };
  }
}

/** Holds its slot for `ms`, like a step waiting on an external call (the recovery scenario). */
export class Sleep extends Step {
  async execute(input: { k: string; ms: number }): Promise<Ok> {
    report({ k: input.k, i: 0, t0: now() });
    await new Promise((resolve) => setTimeout(resolve, input.ms));
    return { ok: true };
  }
}

/** Returns the elements to expand. */
export class Items extends Step {
  execute(n: number): number[] {
    return Array.from({ length: n }, (_, i) => i);
  }
}

/** The fan-in of expand and divide: counts what arrived. */
export class Count extends Step {
  execute(inputs: unknown[]): number {
    return inputs.length;
  }
}

type Builder = { chain(step: unknown): Builder };
const chainOf = (builder: Builder, steps: number, klass: unknown): Builder => {
  let b = builder;
  for (let i = 0; i < steps; i++) b = b.chain(klass);
  return b;
};

export class BenchChain extends Pipeline {
  static override definition = Pipeline.define((p) => chainOf(p.start(Noop) as never, CHAIN_STEPS - 1, Noop) as never);
}

export class BenchTraced extends Pipeline {
  static override definition = Pipeline.define((p) => chainOf(p.start(Traced) as never, CHAIN_STEPS - 1, Traced) as never);
}

export class BenchExpand extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Items).expand({ to: Noop }).collapse({ into: Count }));
}

export class BenchDivide extends Pipeline {
  static override definition = Pipeline.define((p) =>
    (p.start(Noop) as unknown as { divide(o: unknown, lanes: (l: Builder[]) => Builder[]): { combine(o: unknown): never } })
      .divide({ to: Array.from({ length: LANES }, () => Noop) }, (lanes) => lanes.map((lane) => chainOf(lane, LANE_STEPS - 1, Noop)))
      .combine({ into: Count }),
  );
}

export class BenchSleep extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Sleep));
}
