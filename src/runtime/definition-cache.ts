import type { Queryable } from '../db/connect.js';
import { definitionBySha1 } from '../db/queries/definitions.js';
import type { DefinitionGraph } from '../definition/graph.js';
import { TransitionError } from './route.js';

/**
 * Definitions by fingerprint. Every run of one definition shares its fingerprint and its stored
 * row, so the loops of a process read each definition once, not once per run.
 */
export class DefinitionCache {
  readonly #bySha1 = new Map<string, DefinitionGraph>();
  constructor(readonly limit = 500) {}

  /** The cached definition, if this process has read it. */
  peek(sha1: string): DefinitionGraph | undefined {
    return this.#bySha1.get(sha1);
  }

  /** The definition whose fingerprint is `sha1`; read from the database on a miss. */
  async get(sql: Queryable, sha1: string): Promise<DefinitionGraph> {
    const cached = this.#bySha1.get(sha1);
    if (cached) return cached;
    const graph = await definitionBySha1(sql, sha1);
    if (!graph) throw new TransitionError(`no stored definition ${sha1}`);
    if (this.#bySha1.size >= this.limit) this.#bySha1.delete(this.#bySha1.keys().next().value!);
    this.#bySha1.set(sha1, graph);
    return graph;
  }
}
