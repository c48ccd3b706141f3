import type { Queryable } from '../db/connect.js';
import { queuedWork, scheduledClasses } from '../db/queries/deploy-reads.js';
import type { DefinitionGraph } from '../definition/graph.js';
import { pipelineNameOf, definitionOf, type PipelineClass } from './pipeline.js';

/** Work in the database that a build cannot continue. */
export interface StrandedWork {
  pipeline: string;
  /** The definition (fingerprint) the runs were started with. */
  definition: string;
  /** Runs in flight (queued, running, delayed or waiting) with that definition. */
  runs: number;
  waiting: number;
  delayed: number;
  /** Why: the pipeline class is gone, or step classes of its definition are. */
  problem: 'pipeline_missing' | 'steps_missing' | 'schedule_orphaned';
  missingSteps: string[];
}

/**
 * Compares the runs in flight, waiting and scheduled with the pipeline classes of a build: a run
 * is stranded when its pipeline class is gone or a step class its stored definition names is (the
 * run would halt with `unknown_step` when it gets there); a stored schedule of a class the build
 * lacks would never fire again. An empty list means the build can take over.
 */
export async function strandedWork(sql: Queryable, pipelines: readonly PipelineClass[]): Promise<StrandedWork[]> {
  const byName = new Map(pipelines.map((p) => [pipelineNameOf(p), definitionOf(p)]));
  const steps = new Set<string>();
  for (const definition of byName.values()) for (const name of definition.steps.keys()) steps.add(name);
  const stranded: StrandedWork[] = [];
  for (const row of await queuedWork(sql)) {
    const graph = row.graph as DefinitionGraph;
    const children = graph.metadata.children ?? {};
    const named = new Set(Object.entries(graph.edges).filter(([node]) => !(node in children)).map(([, e]) => e.klass));
    if (graph.metadata.on_halt) named.add(graph.metadata.on_halt.klass);
    const missingSteps = [
      ...[...named].filter((k) => !steps.has(k)),
      ...Object.values(children).filter((c) => !byName.has(c)).map((c) => `${c} (child pipeline)`),
    ].sort();
    const base = { pipeline: row.pipeline_klass, definition: row.definition_sha1, runs: row.runs, waiting: row.waiting, delayed: row.delayed };
    if (!byName.has(row.pipeline_klass)) stranded.push({ ...base, problem: 'pipeline_missing', missingSteps });
    else if (missingSteps.length > 0) stranded.push({ ...base, problem: 'steps_missing', missingSteps });
  }
  for (const row of await scheduledClasses(sql)) {
    if (!byName.has(row.pipeline_klass)) {
      stranded.push({ pipeline: row.pipeline_klass, definition: '', runs: 0, waiting: 0, delayed: 0, problem: 'schedule_orphaned', missingSteps: [] });
    }
  }
  return stranded;
}
