import type { DefinitionGraph } from './graph.js';

/**
 * Whether a run of `graph` ends inside a fan-out that is never closed (an open divide or expand),
 * so that its result is the array of every final branch's output, whatever their number (0, 1 or
 * many), rather than one value. Decided by the definition alone, never by how many branches ran.
 */
export function resultIsArray(graph: DefinitionGraph): boolean {
  const depthOf = new Map<string, number>();
  const pending: [string, number][] = [[graph.nodes[0]!, 0]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (depthOf.has(node)) continue;
    depthOf.set(node, depth);
    const edge = graph.edges[node];
    if (!edge) continue;
    switch (edge.type) {
      case undefined:
        if (depth > 0) return true;
        break;
      case 'divide':
      case 'expand':
        for (const to of edge.to) pending.push([to, depth + 1]);
        if (edge.type === 'expand' && edge.collapse_into) pending.push([edge.collapse_into, depth]);
        break;
      case 'combine':
      case 'collapse':
        pending.push([edge.to[0], depth - 1]);
        break;
      case 'divert':
        for (const to of Object.values(edge.to)) pending.push([to, depth]);
        break;
      default:
        pending.push([edge.to[0], depth]);
    }
  }
  return false;
}
