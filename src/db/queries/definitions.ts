import type { DefinitionGraph } from '../../definition/graph.js';
import type { Queryable } from '../connect.js';

/** Stores a definition under its fingerprint unless it is stored already (every run of it refers to it). */
export function insertDefinition(sql: Queryable, sha1: string, graph: DefinitionGraph) {
  return sql`insert into definitions (sha1, graph) values (${sha1}, ${sql.json(graph as never)}) on conflict (sha1) do nothing`;
}

/** The definition stored under a fingerprint. */
export async function definitionBySha1(sql: Queryable, sha1: string): Promise<DefinitionGraph | undefined> {
  const [row] = await sql`select graph from definitions where sha1 = ${sha1}`;
  return row?.graph as DefinitionGraph | undefined;
}
