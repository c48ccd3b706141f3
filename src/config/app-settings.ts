import { ConfigError } from '../errors.js';
import { nearest, type DuctworkConfig } from './config.js';
import { CONFIG_SCHEMA, type KeySpec, type SectionSpec } from './schema.js';

/** What the check needs of a pipeline of the app module: its name and its steps' names. */
export interface PipelineSteps {
  name: string;
  definition: { steps: ReadonlyMap<string, unknown> };
}

/**
 * Checks the names inside per-pipeline and per-step settings against the app's pipelines and
 * their steps, at engine start: `max_retry: { GreetTeem: { Greet: 8 } }` would otherwise start
 * normally and never apply. Names are checked against every pipeline the app exports, not only
 * those this process runs, so one file serves every role. Throws `ConfigError` naming the dotted
 * key, what is known, and the nearest name.
 */
export function checkAppSettings(config: DuctworkConfig, pipelines: readonly PipelineSteps[], source = 'configuration'): void {
  const steps = new Map(pipelines.map((p) => [p.name, [...p.definition.steps.keys()]]));
  const names = [...steps.keys()];
  for (const { path, spec } of scopedKeys(CONFIG_SCHEMA)) {
    const value = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
    if (value === null || typeof value !== 'object') continue;
    const dotted = path.join('.');
    for (const [pipeline, entry] of Object.entries(value as Record<string, unknown>)) {
      if (pipeline === 'default') continue;
      const known = steps.get(pipeline);
      if (!known) {
        const guess = nearest(pipeline, names);
        throw new ConfigError(
          'unknown_pipeline',
          `${source}: ${dotted}.${pipeline}: "${pipeline}" is not a pipeline of the app module (pipelines: ${names.join(', ')})${guess ? `; did you mean "${dotted}.${guess}"?` : '.'}`,
          { details: { source, key: `${dotted}.${pipeline}`, pipeline } },
        );
      }
      if (spec.scope !== 'step' || entry === null || typeof entry !== 'object') continue;
      for (const step of Object.keys(entry)) {
        if (step === 'default' || known.includes(step)) continue;
        const guess = nearest(step, known);
        throw new ConfigError(
          'config_invalid',
          `${source}: ${dotted}.${pipeline}.${step}: "${step}" is not a step of ${pipeline} (steps: ${known.join(', ')})${guess ? `; did you mean "${dotted}.${pipeline}.${guess}"?` : '.'}`,
          { details: { source, key: `${dotted}.${pipeline}.${step}`, pipeline, step } },
        );
      }
    }
  }
}

/** Every per-pipeline and per-step key of the schema, with its path. */
function scopedKeys(spec: SectionSpec, prefix: string[] = []): { path: string[]; spec: KeySpec & { scope: 'pipeline' | 'step' } }[] {
  return Object.entries(spec).flatMap(([key, child]) => {
    const path = [...prefix, key];
    if (typeof (child as KeySpec).kind !== 'string') return scopedKeys(child as SectionSpec, path);
    const leaf = child as KeySpec;
    return 'scope' in leaf && (leaf.scope === 'pipeline' || leaf.scope === 'step') ? [{ path, spec: leaf as KeySpec & { scope: 'pipeline' | 'step' } }] : [];
  });
}
