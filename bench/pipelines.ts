/** Pipelines the benchmarks run (loaded by engines through the public API, like a user's app). */
import { Pipeline, Step } from '../src/index.js';

/** Holds its thread slot for `ms`, like a step waiting on an external call. */
export class Wait extends Step {
  async execute(input: { ms: number }) {
    await new Promise((resolve) => setTimeout(resolve, input.ms));
    return input;
  }
}

export class WaitPipeline extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(Wait));
}
