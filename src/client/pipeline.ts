import { DefinitionError } from '../errors.js';
import type { PipelineBuilder } from '../definition/builder.js';
import { buildDefinition, type PipelineDefinition, type ResultOf } from '../definition/define.js';
import { defaultClient } from './default-client.js';
import type { PipelineHandle } from './handle.js';
import type { TriggerOptions } from './trigger-options.js';
import type { ScheduleSpec } from '../definition/schedule.js';

/** A pipeline class as the client sees it. */
export interface PipelineClass<In = unknown, Out = unknown> {
  readonly name: string;
  pipelineName?: string;
  definition?: PipelineDefinition<In, Out>;
}

/**
 * Base class of every pipeline. Subclass it and set `static definition`:
 *
 * ```ts
 * export class Enrich extends Pipeline {
 *   static definition = Pipeline.define((p) => p.start(QueryUsers).expand({ to: LoadUser }).collapse({ into: Report }));
 * }
 * const handle = await Enrich.trigger({ daysOutdated: 7 });   // durable once this resolves
 * ```
 */
export class Pipeline {
  /** Registry name of this pipeline; defaults to the class name. Runs store it, so keep it stable. */
  static pipelineName?: string;
  /** The definition, from `Pipeline.define`. */
  static definition?: PipelineDefinition<unknown, unknown>;
  /**
   * Cron schedules that trigger this pipeline: exactly one run per tick however many engines run
   * it. `{ cron: '0 9 * * 1-5', timezone: 'Europe/Paris', input: {...}, missed: 'skip' }`.
   */
  static schedules?: readonly ScheduleSpec[];

  /**
   * Draws and validates a pipeline. Throws a `DefinitionError` (with a `code` per DSL call)
   * naming the problem; called as `this.define` inside the class body the message also names
   * the pipeline.
   */
  static define<In, L extends unknown[], S extends unknown[]>(
    this: unknown,
    draw: (p: PipelineBuilder) => PipelineBuilder<In, L, S>,
  ): PipelineDefinition<In, ResultOf<L, S>> {
    const name =
      typeof this === 'function' && this !== Pipeline
        ? pipelineNameOf(this as PipelineClass)
        : `(defined at ${callerLocation()})`;
    return buildDefinition(name, draw);
  }

  /**
   * Triggers a run with `input` through the default client (the running engine's, or one made
   * from `DATABASE_URL`). Resolves once the pipeline, its first step and its job are committed.
   */
  static trigger<In, Out>(this: PipelineClass<In, Out>, input: NoInfer<In>, options?: TriggerOptions): Promise<PipelineHandle<Out>> {
    return defaultClient().trigger(this, input, options);
  }
}

/** The registry name of a pipeline class. */
export function pipelineNameOf(klass: PipelineClass): string {
  return klass.pipelineName ?? klass.name;
}

/** The definition of a pipeline class, or a clear error if it has none. */
export function definitionOf<In, Out>(klass: PipelineClass<In, Out>): PipelineDefinition<In, Out> {
  const definition = klass.definition;
  if (!definition || typeof definition !== 'object' || !('graph' in definition)) {
    throw new DefinitionError('pipeline_not_defined', `Pipeline must be defined before triggering: ${pipelineNameOf(klass)} has no \`static definition = Pipeline.define(...)\`.`, {
      details: { pipeline: pipelineNameOf(klass) },
    });
  }
  return definition;
}

function callerLocation(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const outside = lines.find((line) => !line.includes('/definition/') && !line.includes('/client/pipeline.'));
  return outside?.trim().replace(/^at\s+/, '') ?? 'unknown location';
}
