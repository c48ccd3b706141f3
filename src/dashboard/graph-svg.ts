/**
 * A run's frozen definition drawn as an SVG graph, left to right: each node in the column of its
 * longest path from the start, colored by the status of the run's steps at that node.
 */
import type { DefinitionGraph, Edge } from '../definition/graph.js';
import type { StepStatus } from '../db/queries/steps.js';
import { html, type Html } from './html.js';

/** How many steps of the run are at a node, by status. */
export type NodeCounts = Partial<Record<StepStatus, number>>;

const W = 160;
const H = 48;
const GAP_X = 52;
const GAP_Y = 18;
const PAD = 14;

/** The nodes an edge leads to, each with the label drawn on its arrow. */
function targets(edge: Edge): [string, string][] {
  switch (edge.type) {
    case undefined:
      return [];
    case 'divert':
      return Object.entries(edge.to).map(([key, node]) => [node, key]);
    case 'divide':
      return edge.to.map((node) => [node, 'divide']);
    default:
      return [[edge.to[0], edge.type]];
  }
}

/** The state a node is drawn in: any failed step wins, then any running one, then completed. */
export function nodeState(counts: NodeCounts | undefined): 'failed' | 'running' | 'completed' | 'pending' {
  if (!counts) return 'pending';
  if (counts.failed) return 'failed';
  if (counts.in_progress || counts.advancing) return 'running';
  return counts.completed ? 'completed' : 'pending';
}

function countsLine(counts: NodeCounts | undefined): string {
  if (!counts) return 'not reached';
  const parts: string[] = [];
  if (counts.completed) parts.push(`${counts.completed} done`);
  const running = (counts.in_progress ?? 0) + (counts.advancing ?? 0);
  if (running) parts.push(`${running} running`);
  if (counts.failed) parts.push(`${counts.failed} failed`);
  return parts.join(' · ');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The SVG of `graph`. `href(node)` links each node (to the steps at it); `selected` is outlined;
 * `onHaltCounts` colors the on-halt handler's node when the pipeline has one.
 */
export function graphSvg(
  graph: DefinitionGraph,
  counts: Map<string, NodeCounts>,
  href: (node: string) => string,
  selected?: string,
  onHaltNode?: string,
): Html {
  const column = new Map<string, number>();
  const incoming = new Map<string, number>(graph.nodes.map((n) => [n, 0]));
  for (const node of graph.nodes) for (const [to] of targets(graph.edges[node]!)) incoming.set(to, (incoming.get(to) ?? 0) + 1);
  const ready = graph.nodes.filter((n) => incoming.get(n) === 0);
  for (const n of ready) column.set(n, 0);
  while (ready.length > 0) {
    const node = ready.shift()!;
    for (const [to] of targets(graph.edges[node]!)) {
      column.set(to, Math.max(column.get(to) ?? 0, column.get(node)! + 1));
      incoming.set(to, incoming.get(to)! - 1);
      if (incoming.get(to) === 0) ready.push(to);
    }
  }
  const columns: string[][] = [];
  for (const node of graph.nodes) (columns[column.get(node) ?? 0] ??= []).push(node);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((nodes, c) => {
    const offset = ((rows - nodes.length) * (H + GAP_Y)) / 2;
    nodes.forEach((node, r) => position.set(node, { x: PAD + c * (W + GAP_X), y: PAD + offset + r * (H + GAP_Y) }));
  });
  const onHalt = graph.metadata.on_halt;
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GAP_X;
  const height = PAD * 2 + rows * H + (rows - 1) * GAP_Y + (onHalt ? H + GAP_Y * 2 : 0);

  const edges = graph.nodes.flatMap((node) =>
    targets(graph.edges[node]!).map(([to, label]) => {
      const a = position.get(node)!;
      const b = position.get(to)!;
      const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x - 4, b.y + H / 2];
      const mid = (x1 + x2) / 2;
      return html`<path class="edge" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}" marker-end="url(#arrow)"></path>
        <text class="edge" x="${mid}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">${label}</text>`;
    }),
  );
  const box = (node: string, label: string, x: number, y: number, extraClass: string) => {
    const c = counts.get(node);
    const state = nodeState(c);
    return html`<a href="${href(node)}" class="node ${state}${node === selected ? ' selected' : ''}${extraClass}" data-node="${node}" data-state="${state}">
      <title>${node}: ${countsLine(c)}</title>
      <rect x="${x}" y="${y}" width="${W}" height="${H}" rx="7"></rect>
      <text x="${x + 10}" y="${y + 19}">${clip(label, 22)}</text>
      <text class="sub" x="${x + 10}" y="${y + 37}">${clip(countsLine(c), 25)}</text>
    </a>`;
  };
  const nodes = graph.nodes.map((node) => {
    const p = position.get(node)!;
    const klass = graph.edges[node]!.klass;
    const shared = graph.nodes.filter((n) => graph.edges[n]!.klass === klass).length > 1;
    return box(node, shared ? node : klass, p.x, p.y, '');
  });
  const haltBox = onHalt && onHaltNode ? box(onHaltNode, `on halt: ${onHalt.klass}`, PAD, height - PAD - H, ' on-halt') : '';
  return html`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Pipeline graph">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"></path></marker></defs>
    ${edges}${nodes}${haltBox}
  </svg>`;
}
