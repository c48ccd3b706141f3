import { createHash } from 'node:crypto';
import { PipelineBuilder } from './builder.js';
import type { HasFanOut } from './flow-types.js';
import type { DefinitionGraph } from './graph.js';
import type { StepClass } from './step.js';

/**
 * A validated, frozen pipeline definition: the graph stored with each run, the step classes it
 * names, and (at the type level) the pipeline's input and result types.
 */
export interface PipelineDefinition<In = unknown, Out = unknown> {
  readonly graph: DefinitionGraph;
  readonly steps: ReadonlyMap<string, StepClass>;
  /** SHA-1 of the stored JSON; runs remember which definition they started with. */
  readonly sha1: string;
  /** Type-level only: the trigger input and the result. */
  readonly __types?: { input: In; output: Out };
}

/**
 * What a run's result is: the terminal step's output when the pipeline ends on one branch, or
 * an array of terminal outputs when it ends on several (an open divide or expand).
 */
export type ResultOf<L extends unknown[], S extends unknown[]> = HasFanOut<S> extends true ? L[number][] : L[number];

/** Draws and validates a definition; errors name `pipeline`. */
export function buildDefinition<In, L extends unknown[], S extends unknown[]>(
  pipeline: string,
  draw: (p: PipelineBuilder) => PipelineBuilder<In, L, S>,
): PipelineDefinition<In, ResultOf<L, S>> {
  const root = PipelineBuilder.forPipeline(pipeline);
  const returned = draw(root);
  const { graph, steps } = PipelineBuilder.finish((returned ?? root) as PipelineBuilder<unknown, unknown[], unknown[]>);
  const sha1 = createHash('sha1').update(JSON.stringify(graph)).digest('hex');
  return Object.freeze({ graph, steps, sha1 });
}
