/**
 * Decides where one claimed branch goes next, per the edge of its finished step's node in the
 * run's definition. Pure: no I/O. The decision (a {@link Move}) is carried out together with the
 * rest of the advancer's batch by {@link applyMoves}, inside one transaction.
 */
import { settingFor, type DuctworkConfig } from '../config/config.js';
import { uuidv7 } from '../db/ids.js';
import type { FanFrame, HaltReason, NewBranch } from '../db/queries/branches.js';
import type { NewFanout } from '../db/queries/fanouts.js';
import type { ClaimedAdvance, NewJob } from '../db/queries/jobs.js';
import type { DefinitionGraph, DivertEdge, DivideEdge, ExpandEdge, FanInEdge, ToTransition } from '../definition/graph.js';

/** A routing failure that retrying cannot fix: the branch halts with `transition_invalid`. */
export class TransitionError extends Error {
  override name = 'TransitionError';
}

/** What routing needs besides the claim. */
export interface RouteContext {
  config: DuctworkConfig;
  graph: DefinitionGraph;
  /** The finished step's output, read for the claims that route on it (divert). */
  output?: string | null;
  /** For an expand: the JSON type of the output and, for an array, its length (read in SQL). */
  shape?: { type: string; length: number | null };
}

/** The step a branch runs next. */
export interface NextStep {
  id: string;
  node: string;
  klass: string;
  via: ToTransition;
}

/**
 * One branch's advancement. Beyond that, every move ends the claim's advance job (or reuses it):
 * - `continue`: the same branch runs `next` (chain, converge, divert), in the same job row;
 * - `finish`: the branch completes (at a terminal node when `terminal`);
 * - `halt`: the branch halts with a reason;
 * - `divide`: the branch completes and opens `fanout`, one member branch and job per target;
 * - `expand`: the branch completes and opens `fanout`, one member per element (created in SQL);
 * - `empty`: an empty expand with a collapse: the collapse starts at once with `[]`, in a new branch;
 * - `fanIn`: the branch completes and arrives at the fan-in of its innermost fan-out; the arrival
 *   that completes the count starts `target` with every member's output;
 * - `wait`: the branch waits for a signal named `event` (delivered to `next`), or its timeout
 *   (`onTimeout`, or a `wait_timed_out` halt); settled in the transaction, under the pipeline's
 *   signal lock, by {@link applyMoves}.
 */
export type Move =
  | { kind: 'continue'; claim: ClaimedAdvance; next: NextStep }
  | { kind: 'finish'; claim: ClaimedAdvance; terminal: boolean }
  | { kind: 'halt'; claim: ClaimedAdvance; reason: HaltReason; detail: string }
  | { kind: 'divide'; claim: ClaimedAdvance; fanout: NewFanout; branches: NewBranch[]; jobs: NewJob[] }
  | { kind: 'expand'; claim: ClaimedAdvance; fanout: NewFanout; target: { node: string; klass: string } }
  | { kind: 'empty'; claim: ClaimedAdvance; branch: NewBranch; job: NewJob }
  | { kind: 'fanIn'; claim: ClaimedAdvance; frame: FanFrame; target: { node: string; klass: string; via: 'combine' | 'collapse' } }
  | { kind: 'wait'; claim: ClaimedAdvance; event: string; timeoutSeconds: number | null; next: NextStep; onTimeout?: NextStep; after: number };

/** Plans one claimed branch's move. Throws on a definition or output it cannot route. */
export function planMove(claim: ClaimedAdvance, ctx: RouteContext): Move {
  const maxCrash = ctx.config.pipeline_advancer.max_crash;
  if (claim.crash_count - 1 > maxCrash) {
    return {
      kind: 'halt', claim, reason: 'advancer_crashes_exhausted',
      detail: `advancing after step ${claim.klass} (${claim.node}) died, timed out or could not be written ${claim.crash_count - 1} times (pipeline_advancer.max_crash ${maxCrash})`,
    };
  }
  if (claim.step_status === 'failed') {
    const reason: HaltReason = ctx.graph.metadata.children?.[claim.node] !== undefined && claim.last_error?.startsWith('ChildHalted')
      ? 'child_halted'
      : claim.last_outcome === 'crashed' ? 'job_crashes_exhausted' : 'job_retries_exhausted';
    const cause = claim.last_error ? `: ${claim.last_error}` : '';
    const element = claim.frames.length ? `, fan-out element ${claim.frames.at(-1)!.i}` : '';
    return { kind: 'halt', claim, reason, detail: `step ${claim.klass} (${claim.node}${element}) failed: ${reason.replaceAll('_', ' ')}${cause}` };
  }
  const edge = ctx.graph.edges[claim.node];
  if (!edge) throw new TransitionError(`node "${claim.node}" is not in the run's definition`);
  if (claim.kind === 'wait' && edge.type !== 'wait') throw new TransitionError(`a wait is parked at node "${claim.node}", whose transition is ${edge.type ?? 'the end'}`);
  switch (edge.type) {
    case 'wait':
      return {
        kind: 'wait', claim, event: edge.event, timeoutSeconds: edge.timeout ?? null, next: nextStep(ctx, edge.to[0], 'wait'),
        ...(edge.on_timeout ? { onTimeout: nextStep(ctx, edge.on_timeout, 'wait') } : {}), after: edge.after ?? 0,
      };
    case undefined:
      return { kind: 'finish', claim, terminal: true };
    case 'chain':
    case 'converge':
      return { kind: 'continue', claim, next: nextStep(ctx, edge.to[0], edge.type) };
    case 'divert':
      return divert(claim, ctx, edge);
    case 'divide':
      return divide(claim, ctx, edge);
    case 'expand':
      return expand(claim, ctx, edge);
    case 'combine':
    case 'collapse':
      return fanIn(claim, ctx, edge);
    default:
      throw new TransitionError(`Invalid transition type \`${(edge as { type: string }).type}\``);
  }
}

/** The step a branch continues with in its success commit, when its finished step's node chains on (chain or converge). */
export function chainSuccessor(graph: DefinitionGraph, node: string): { node: string; klass: string; via: 'chain' | 'converge' } | undefined {
  const edge = graph.edges[node];
  // A delayed transition waits as an advance job due later, so the advancer routes it then.
  if ((edge?.type !== 'chain' && edge?.type !== 'converge') || edge.after) return undefined;
  const next = graph.edges[edge.to[0]];
  return next ? { node: edge.to[0], klass: next.klass, via: edge.type } : undefined;
}

function nextStep(ctx: RouteContext, node: string, via: ToTransition): NextStep {
  const edge = ctx.graph.edges[node];
  if (!edge) throw new TransitionError(`node "${node}" is not in the run's definition`);
  return { id: uuidv7(), node, klass: edge.klass, via };
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

function divert(claim: ClaimedAdvance, ctx: RouteContext, edge: DivertEdge): Move {
  const key = routeKey(JSON.parse(ctx.output ?? 'null'));
  const node = key !== null && Object.hasOwn(edge.to, key) ? edge.to[key] : edge.to.otherwise;
  if (!node) return { kind: 'halt', claim, reason: 'condition_unmatched', detail: `no route for key ${JSON.stringify(key)} and no otherwise` };
  return { kind: 'continue', claim, next: nextStep(ctx, node, 'divert') };
}

/** The largest fan-out allowed at `klass` (pipeline_advancer.steps.max_depth). */
function fanOutCap(ctx: RouteContext, pipeline: string, klass: string): number {
  return settingFor(ctx.config.pipeline_advancer.steps.max_depth, DEFAULT_MAX_DEPTH, pipeline, klass);
}

/** The default of `pipeline_advancer.steps.max_depth` (see the config schema). */
const DEFAULT_MAX_DEPTH = 100_000;

function divide(claim: ClaimedAdvance, ctx: RouteContext, edge: DivideEdge): Move {
  const cap = fanOutCap(ctx, claim.pipeline_klass, claim.klass);
  if (cap !== -1 && edge.to.length > cap) {
    return { kind: 'halt', claim, reason: 'max_fanout_exceeded', detail: `divide into ${edge.to.length} branches exceeds pipeline_advancer.steps.max_depth ${cap}` };
  }
  const fanout = newFanout(claim, 'divide', edge.to.length);
  const branches: NewBranch[] = [];
  const jobs: NewJob[] = [];
  edge.to.forEach((node, i) => {
    const branch = memberBranch(claim, [...claim.frames, { f: fanout.id, i }]);
    const step = nextStep(ctx, node, 'divide');
    branches.push(branch);
    jobs.push(memberJob(claim, branch.id, step, null));
  });
  return { kind: 'divide', claim, fanout, branches, jobs };
}

function expand(claim: ClaimedAdvance, ctx: RouteContext, edge: ExpandEdge): Move {
  const shape = ctx.shape;
  if (!shape) throw new Error(`expand of step ${claim.klass} was planned without its output's shape`);
  if (shape.type !== 'array' || shape.length === null) {
    return { kind: 'halt', claim, reason: 'transition_invalid', detail: `expand needs an array from step ${claim.klass}; it returned ${shape.type}` };
  }
  const target = edge.to[0];
  const cap = fanOutCap(ctx, claim.pipeline_klass, ctx.graph.edges[target]?.klass ?? target);
  if (cap !== -1 && shape.length > cap) {
    return { kind: 'halt', claim, reason: 'max_fanout_exceeded', detail: `expand of ${shape.length} elements exceeds pipeline_advancer.steps.max_depth ${cap}` };
  }
  if (shape.length === 0) {
    // No member will ever end: the branch finishes here, or an empty cohort still fires its collapse, with [].
    if (!edge.collapse_into) return { kind: 'finish', claim, terminal: false };
    const branch = memberBranch(claim, claim.frames);
    return { kind: 'empty', claim, branch, job: { ...memberJob(claim, branch.id, nextStep(ctx, edge.collapse_into, 'collapse'), '[]'), inputRef: null } };
  }
  const step = nextStep(ctx, target, 'expand');
  return { kind: 'expand', claim, fanout: newFanout(claim, 'expand', shape.length), target: { node: step.node, klass: step.klass } };
}

function newFanout(claim: ClaimedAdvance, kind: 'divide' | 'expand', width: number): NewFanout {
  return { id: uuidv7(), runId: claim.run_id, branchId: claim.branch_id, kind, width, frames: claim.frames };
}

function memberBranch(claim: ClaimedAdvance, frames: FanFrame[]): NewBranch {
  return { id: uuidv7(), runId: claim.run_id, pipelineKlass: claim.pipeline_klass, parentBranchId: claim.branch_id, frames };
}

/** A job on a new branch whose input is the claim's step output (null: copied in SQL) or `input`. */
function memberJob(claim: ClaimedAdvance, branchId: string, step: NextStep, input: string | null): NewJob {
  return {
    pipelineKlass: claim.pipeline_klass, pipelineId: claim.pipeline_id, runId: claim.run_id, branchId, definitionSha1: claim.definition_sha1,
    stepId: step.id, node: step.node, klass: step.klass, toTransition: step.via, input, inputRef: claim.step_id, idempotencyKey: step.id,
  };
}

function fanIn(claim: ClaimedAdvance, ctx: RouteContext, edge: FanInEdge): Move {
  const frame = claim.frames.at(-1);
  if (!frame) throw new TransitionError(`${edge.type} at ${claim.node} has no open fan-out to close`);
  const node = edge.to[0];
  const target = ctx.graph.edges[node];
  if (!target) throw new TransitionError(`node "${node}" is not in the run's definition`);
  return { kind: 'fanIn', claim, frame, target: { node, klass: target.klass, via: edge.type } };
}
