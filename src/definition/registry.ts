import { DefinitionError } from '../errors.js';
import type { PipelineDefinition } from './define.js';
import type { StepClass } from './step.js';

/** A pipeline class found in an app module. */
export interface FoundPipeline {
  name: string;
  definition: PipelineDefinition;
  /** The class's `static schedules`, as declared (checked where the engine starts). */
  schedules?: unknown;
}

/**
 * Finds the pipeline classes among a module's exports: classes with a `static definition`
 * made by `Pipeline.define`. Duck-typed so worker threads need not load the client.
 */
export function findPipelines(moduleExports: Record<string, unknown>): FoundPipeline[] {
  const found = new Map<string, FoundPipeline>();
  const candidates = [...Object.values(moduleExports)];
  const nested = moduleExports.default;
  if (nested && typeof nested === 'object') candidates.push(...Object.values(nested as Record<string, unknown>));
  for (const value of candidates) {
    // Only a class's own definition: a subclass inheriting one is not a second pipeline.
    if (typeof value !== 'function' || !Object.hasOwn(value, 'definition')) continue;
    const definition = (value as { definition?: unknown }).definition as PipelineDefinition | undefined;
    if (!definition || typeof definition !== 'object' || !definition.graph || !(definition.steps instanceof Map)) continue;
    const name = (value as { pipelineName?: string }).pipelineName ?? value.name;
    const existing = found.get(name);
    if (existing && existing.definition !== definition) {
      throw new DefinitionError('app_module_invalid', `Two exported pipelines are both named "${name}"; set a distinct \`static pipelineName\` on one.`, {
        details: { pipeline: name },
      });
    }
    const schedules = (value as { schedules?: unknown }).schedules;
    found.set(name, schedules === undefined ? { name, definition } : { name, definition, schedules });
  }
  return [...found.values()];
}

/** Every step class named by the pipelines, by name; two classes sharing a name is an error. */
export function stepRegistry(pipelines: FoundPipeline[]): Map<string, StepClass> {
  const registry = new Map<string, StepClass>();
  const owner = new Map<string, string>();
  for (const pipeline of pipelines) {
    for (const [name, klass] of pipeline.definition.steps) {
      const known = registry.get(name);
      if (known && known !== klass) {
        throw new DefinitionError(
          'app_module_invalid',
          `Step name "${name}" is used by different classes in ${owner.get(name)} and ${pipeline.name}; ` +
            'steps are found by name at run time, so give one a distinct `static stepName`.',
          { details: { step: name } },
        );
      }
      registry.set(name, klass);
      owner.set(name, pipeline.name);
    }
  }
  return registry;
}
