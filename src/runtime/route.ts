/**
 * Decides where one locked branch goes next, per the edge of its finished step's node in the
 * run's frozen definition. Pure: no I/O. The decision (a {@link Move}) is carried out together
 * with the rest of the advancer's batch by {@link applyMoves}, inside one transaction.
 */
import { settingFor, type DuctworkConfig } from '../config/config.js';
import { uuidv7 } from '../db/ids.js';
import type { AdvanceableBranch, FanFrame, HaltReason, NewBranch } from '../db/queries/branches.js';
import type { NewFanout } from '../db/queries/fanouts.js';
import type { NewStep } from '../db/queries/steps.js';
import type { DefinitionGraph, DivertEdge, DivideEdge, ExpandEdge, FanInEdge, ToTransition } from '../definition/graph.js';

/** A routing failure that retrying cannot fix: the branch halts with `transition_invalid`. */
export class TransitionError extends Error {
  override name = 'TransitionError';
}

/** What routing needs besides the branch. */
export interface RouteContext {
  config: DuctworkConfig;
  pipeline: string;
  graph: DefinitionGraph;
}

/**
 * One branch's advancement. Every move marks the finished step advanced; beyond that:
 * - `continue`: the same branch runs `step` next (chain, converge, divert);
 * - `finish`: the branch completes (at a terminal node when `terminalStepId` is set);
 * - `halt`: the branch halts with a reason;
 * - `fanOut`: the branch completes and opens `fanout`, with one child branch and step per member
 *   (an empty expand with a collapse opens no fan-out and starts the collapse with `[]`);
 * - `fanIn`: the branch completes and arrives at the fan-in of its innermost fan-out; the arrival
 *   that completes the count starts `target` with every member's output.
 */
export type Move =
  | { kind: 'continue'; row: AdvanceableBranch; step: NewStep }
  | { kind: 'finish'; row: AdvanceableBranch; terminalStepId: string | null }
  | { kind: 'halt'; row: AdvanceableBranch; reason: HaltReason; detail: string }
  | { kind: 'fanOut'; row: AdvanceableBranch; fanout: NewFanout | null; branches: NewBranch[]; steps: NewStep[] }
  | { kind: 'fanIn'; row: AdvanceableBranch; frame: FanFrame; target: { node: string; klass: string; via: 'combine' | 'collapse' } };

/** Plans one locked branch's move. Throws on a definition or output it cannot route. */
export function planMove(row: AdvanceableBranch, ctx: RouteContext): Move {
  if (row.step_status === 'failed') {
    const reason: HaltReason = row.last_outcome === 'crashed' ? 'job_crashes_exhausted' : 'job_retries_exhausted';
    return { kind: 'halt', row, reason, detail: `step ${row.klass} (${row.node}${row.frames.length ? `, fan-out element ${row.frames.at(-1)!.i}` : ''}) failed: ${reason.replaceAll('_', ' ')}${row.last_error ? `: ${row.last_error.slice(0, 500)}` : ''}` };
  }
  const edge = ctx.graph.edges[row.node];
  if (!edge) throw new TransitionError(`node "${row.node}" is not in the run's definition`);
  switch (edge.type) {
    case undefined:
      return { kind: 'finish', row, terminalStepId: row.step_id };
    case 'chain':
    case 'converge':
      return { kind: 'continue', row, step: newStep(row, ctx, row.branch_id, edge.to[0], edge.type, row.output ?? 'null') };
    case 'divert':
      return divert(row, ctx, edge);
    case 'divide':
      return divide(row, ctx, edge);
    case 'expand':
      return expand(row, ctx, edge);
    case 'combine':
    case 'collapse':
      return fanIn(row, ctx, edge);
    default:
      throw new TransitionError(`Invalid transition type \`${(edge as { type: string }).type}\``);
  }
}

/** The step a branch continues with, when its finished step's node chains on (chain or converge). */
export function chainSuccessor(graph: DefinitionGraph, node: string): { node: string; klass: string; via: 'chain' | 'converge' } | undefined {
  const edge = graph.edges[node];
  if (edge?.type !== 'chain' && edge?.type !== 'converge') return undefined;
  const next = graph.edges[edge.to[0]];
  return next ? { node: edge.to[0], klass: next.klass, via: edge.type } : undefined;
}

function newStep(row: AdvanceableBranch, ctx: RouteContext, branchId: string, node: string, toTransition: ToTransition, input: string): NewStep {
  const id = uuidv7();
  const edge = ctx.graph.edges[node];
  if (!edge) throw new TransitionError(`node "${node}" is not in the run's definition`);
  return { id, runId: row.run_id, branchId, pipelineKlass: ctx.pipeline, node, klass: edge.klass, toTransition, input, idempotencyKey: id };
}

/** The key `divert` routes on, or null for `otherwise`. */
export function routeKey(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object' && !Array.isArray(value) && typeof (value as { route?: unknown }).route === 'string') {
    return (value as { route: string }).route;
  }
  throw new TransitionError(
    `divert needs a string, number, boolean, null or { route: string } output to route on; got ${Array.isArray(value) ? 'an array' : typeof value}`,
  );
}

function divert(row: AdvanceableBranch, ctx: RouteContext, edge: DivertEdge): Move {
  const key = routeKey(JSON.parse(row.output ?? 'null'));
  const node = key !== null && Object.hasOwn(edge.to, key) ? edge.to[key] : edge.to.otherwise;
  if (!node) return { kind: 'halt', row, reason: 'condition_unmatched', detail: `no route for key ${JSON.stringify(key)} and no otherwise` };
  return { kind: 'continue', row, step: newStep(row, ctx, row.branch_id, node, 'divert', row.output ?? 'null') };
}

function fanOutCap(ctx: RouteContext, klass: string): number {
  return settingFor(ctx.config.pipeline_advancer.steps.max_depth, -1, ctx.pipeline, klass);
}

function divide(row: AdvanceableBranch, ctx: RouteContext, edge: DivideEdge): Move {
  const cap = fanOutCap(ctx, row.klass);
  if (cap !== -1 && edge.to.length > cap) {
    return { kind: 'halt', row, reason: 'max_fanout_exceeded', detail: `divide into ${edge.to.length} branches exceeds pipeline_advancer.steps.max_depth ${cap}` };
  }
  return fanOut(row, ctx, 'divide', edge.to, edge.to.map(() => row.output ?? 'null'));
}

function expand(row: AdvanceableBranch, ctx: RouteContext, edge: ExpandEdge): Move {
  const items: unknown = JSON.parse(row.output ?? 'null');
  if (!Array.isArray(items)) {
    const got = items === null ? 'null' : typeof items;
    return { kind: 'halt', row, reason: 'transition_invalid', detail: `expand needs an array from step ${row.klass}; it returned ${got}` };
  }
  const target = edge.to[0];
  const cap = fanOutCap(ctx, ctx.graph.edges[target]?.klass ?? target);
  if (cap !== -1 && items.length > cap) {
    return { kind: 'halt', row, reason: 'max_fanout_exceeded', detail: `expand of ${items.length} elements exceeds pipeline_advancer.steps.max_depth ${cap}` };
  }
  if (items.length === 0) {
    if (!edge.collapse_into) return { kind: 'finish', row, terminalStepId: row.step_id };
    // An empty cohort still fires its collapse, with [].
    const branch: NewBranch = { id: uuidv7(), runId: row.run_id, pipelineKlass: ctx.pipeline, parentBranchId: row.branch_id, frames: row.frames };
    return { kind: 'fanOut', row, fanout: null, branches: [branch], steps: [newStep(row, ctx, branch.id, edge.collapse_into, 'collapse', '[]')] };
  }
  return fanOut(row, ctx, 'expand', items.map(() => target), items.map((item) => JSON.stringify(item)));
}

/** Opens a fan-out with one child branch per target, each inside a new fan-out frame. */
function fanOut(row: AdvanceableBranch, ctx: RouteContext, kind: 'divide' | 'expand', nodes: string[], inputs: string[]): Move {
  const fanout: NewFanout = { id: uuidv7(), runId: row.run_id, branchId: row.branch_id, kind, width: nodes.length, frames: row.frames };
  const branches: NewBranch[] = [];
  const steps: NewStep[] = [];
  nodes.forEach((node, i) => {
    const branch: NewBranch = { id: uuidv7(), runId: row.run_id, pipelineKlass: ctx.pipeline, parentBranchId: row.branch_id, frames: [...row.frames, { f: fanout.id, i }] };
    branches.push(branch);
    steps.push(newStep(row, ctx, branch.id, node, kind, inputs[i]!));
  });
  return { kind: 'fanOut', row, fanout, branches, steps };
}

function fanIn(row: AdvanceableBranch, ctx: RouteContext, edge: FanInEdge): Move {
  const frame = row.frames.at(-1);
  if (!frame) throw new TransitionError(`${edge.type} at ${row.node} has no open fan-out to close`);
  const node = edge.to[0];
  const target = ctx.graph.edges[node];
  if (!target) throw new TransitionError(`node "${node}" is not in the run's definition`);
  return { kind: 'fanIn', row, frame, target: { node, klass: target.klass, via: edge.type } };
}
