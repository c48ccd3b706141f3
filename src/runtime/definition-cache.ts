import type { Queryable } from '../db/connect.js';
import { runDefinition } from '../db/queries/runs.js';
import type { DefinitionGraph } from '../definition/graph.js';
import { TransitionError } from './route.js';

/**
 * Frozen definitions by fingerprint (`runs.definition_sha1`). Runs never change their
 * definition and every run of one definition shares its fingerprint, so the job workers and
 * advancers of a process read each definition once, not once per run.
 */
export class DefinitionCache {
  readonly #bySha1 = new Map<string, DefinitionGraph>();
  constructor(readonly limit = 500) {}

  /** The cached definition, if this process has read it. */
  peek(sha1: string): DefinitionGraph | undefined {
    return this.#bySha1.get(sha1);
  }

  /** The definition of run `runId`, whose fingerprint is `sha1`; read from the run on a miss. */
  async get(sql: Queryable, runId: string, sha1: string): Promise<DefinitionGraph> {
    const cached = this.#bySha1.get(sha1);
    if (cached) return cached;
    const graph = await runDefinition(sql, runId);
    if (!graph) throw new TransitionError(`run ${runId} has no definition`);
    if (this.#bySha1.size >= this.limit) this.#bySha1.delete(this.#bySha1.keys().next().value!);
    this.#bySha1.set(sha1, graph);
    return graph;
  }
}
