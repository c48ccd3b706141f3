/**
 * The pipelines the benchmark runs on ductwork, loaded like a user's app module (by the engine's
 * main thread and by every worker thread). Throughput steps are true no-ops; traced and sleeping
 * steps report their entry, and the last step of every pipeline reports that it ran (to the
 * adapter's main thread, over a BroadcastChannel), so the adapter knows when to ask the engine,
 * through its client, whether everything is done, without reading the engine's tables.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { Pipeline, Step } from '../../src/index.js';
import { CHAIN_STEPS, LANES, LANE_STEPS, MANY_CLASSES, now, type Entry } from '../lib/protocol.js';

export const CHANNEL = 'ductwork-bench';
/** What the steps post: an entry of a traced or sleeping step, or a pipeline's last step having run. */
export type Report = { entry: Entry; last: boolean } | { last: true };
let channel: BroadcastChannel | undefined;
function post(message: Report): void {
  if (!channel) {
    channel = new BroadcastChannel(CHANNEL);
    channel.unref();
  }
  channel.postMessage(message);
}
const report = (entry: Entry, last = false) => post({ entry, last });

type Ok = { ok: true };

/** The no-op step of every throughput scenario. */
export class Noop extends Step {
  execute(_input: unknown): Ok {
    return { ok: true };
  }
}

/** The last step of a no-op chain: a no-op that says it ran (one message a pipeline). */
export class Last extends Step {
  execute(_input: unknown): Ok {
    post({ last: true });
    return { ok: true };
  }
}

/** A no-op that reports when it ran, for the latency scenario. */
export class Traced extends Step {
  execute(input: { k: string; i: number }): { k: string; i: number } {
    const t0 = now();
    report({ k: input.k, i: input.i, t0, t1: now() }, input.i === CHAIN_STEPS - 1);
    return { k: input.k, i: input.i + 1 };
  }
}

/** Holds its slot for `ms`, like a step waiting on an external call (the recovery scenario). */
export class Sleep extends Step {
  async execute(input: { k: string; ms: number }): Promise<Ok> {
    report({ k: input.k, i: 0, t0: now(), c: this.execution.crashCount }, true);
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

/** The fan-in of expand and divide (their last step): counts what arrived. */
export class Count extends Step {
  execute(inputs: unknown[]): number {
    post({ last: true });
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
  static override definition = Pipeline.define((p) => (chainOf(p.start(Noop) as never, CHAIN_STEPS - 2, Noop) as Builder).chain(Last) as never);
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

/** One step, then a wait for an event nobody sends: an idle waiting run (the waiting cell). */
export class BenchWait extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Noop).wait({ event: 'never' }).chain(Noop));
}

export class BenchSleep extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Sleep));
}

/**
 * The many-pipelines cell's classes: BenchMany01 … BenchMany20, each a chain like BenchChain.
 * The registry also reads the default export's values, which lets them be made in a loop.
 */
const many: Record<string, unknown> = {};
for (let n = 1; n <= MANY_CLASSES; n++) {
  const name = `BenchMany${String(n).padStart(2, '0')}`;
  many[name] = class extends Pipeline {
    static override pipelineName = name;
    static override definition = Pipeline.define((p) => (chainOf(p.start(Noop) as never, CHAIN_STEPS - 2, Noop) as Builder).chain(Last) as never);
  };
}
export const MANY_PIPELINES = Object.keys(many);
export default many;
