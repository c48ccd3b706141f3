/**
 * Moves one locked branch off its finished step, per the edge of that step's node in the run's
 * frozen definition. Everything here runs inside the advancer's transaction: a crash anywhere
 * rolls the whole move back, and the branch lock is released by the rollback.
 */
import { settingFor, type DuctworkConfig } from '../config/config.js';
import type { TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import {
  completeBranch,
  haltBranch,
  haltReasons,
  insertBranches,
  resetAdvanceErrors,
  runHasOpenBranch,
  type AdvanceableBranch,
  type FanFrame,
  type HaltReason,
  type NewBranch,
} from '../db/queries/branches.js';
import { lastOutcome } from '../db/queries/executions.js';
import { arrive, gatherArrivals, insertFanout, markFanoutFired } from '../db/queries/fanouts.js';
import { lockRunForResolution, resolveRun } from '../db/queries/runs.js';
import { enqueueSteps, markStepAdvanced, type NewStep } from '../db/queries/steps.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import { ON_HALT_NODE, type DefinitionGraph, type DivertEdge, type DivideEdge, type ExpandEdge, type FanInEdge, type ToTransition } from '../definition/graph.js';

/** A routing failure that retrying cannot fix: the branch halts with `transition_invalid`. */
export class TransitionError extends Error {
  override name = 'TransitionError';
}

/** What routing needs besides the transaction and the branch. */
export interface RouteContext {
  config: DuctworkConfig;
  pipeline: string;
  graph: DefinitionGraph;
}

/** What one advancement did, for wake-ups and logs. */
export interface RouteOutcome {
  enqueued: number;
  halted?: HaltReason;
  runResolved?: 'completed' | 'halted';
}

/** Advances one locked branch. Throws on any failure; the caller rolls back and records it. */
export async function advanceBranch(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext): Promise<RouteOutcome> {
  if (row.step_status === 'failed') {
    const reason: HaltReason = (await lastOutcome(tx, row.step_id)) === 'crashed' ? 'job_crashes_exhausted' : 'job_retries_exhausted';
    return halt(tx, row, ctx, reason, `step ${row.klass} (${row.node}) failed: ${reason.replaceAll('_', ' ')}`);
  }
  const edge = ctx.graph.edges[row.node];
  if (!edge) throw new TransitionError(`node "${row.node}" is not in the run's definition`);
  switch (edge.type) {
    case undefined:
      return finish(tx, row, ctx, row.step_id);
    case 'chain':
    case 'converge':
      return continueBranch(tx, row, ctx, edge.to[0], edge.type, row.output ?? 'null');
    case 'divert':
      return divert(tx, row, ctx, edge);
    case 'divide':
      return divide(tx, row, ctx, edge);
    case 'expand':
      return expand(tx, row, ctx, edge);
    case 'combine':
    case 'collapse':
      return fanIn(tx, row, ctx, edge);
    default:
      throw new TransitionError(`Invalid transition type \`${(edge as { type: string }).type}\``);
  }
}

/** Records a routing failure that will not be retried: the step is done, the branch halts. */
export async function haltAfterRoutingError(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, reason: HaltReason, detail: string): Promise<RouteOutcome> {
  return halt(tx, row, ctx, reason, detail);
}

function newStep(row: AdvanceableBranch, ctx: RouteContext, branchId: string, node: string, toTransition: ToTransition, input: string): NewStep {
  const id = uuidv7();
  const edge = ctx.graph.edges[node];
  if (!edge) throw new TransitionError(`node "${node}" is not in the run's definition`);
  return { id, runId: row.run_id, branchId, pipelineKlass: ctx.pipeline, node, klass: edge.klass, toTransition, input, idempotencyKey: id };
}

async function continueBranch(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, node: string, via: ToTransition, input: string): Promise<RouteOutcome> {
  await markStepAdvanced(tx, row.step_id);
  await enqueueSteps(tx, [newStep(row, ctx, row.branch_id, node, via, input)]);
  if (row.advance_errors > 0) await resetAdvanceErrors(tx, row.branch_id);
  return { enqueued: 1 };
}

async function finish(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, terminalStepId: string | null): Promise<RouteOutcome> {
  await markStepAdvanced(tx, row.step_id);
  await completeBranch(tx, row.branch_id, terminalStepId);
  return { enqueued: 0, ...(await resolveIfDone(tx, row, ctx)) };
}

async function halt(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, reason: HaltReason, detail: string): Promise<RouteOutcome> {
  await markStepAdvanced(tx, row.step_id);
  await haltBranch(tx, row.branch_id, reason, detail);
  const resolved = await resolveIfDone(tx, row, ctx);
  return { enqueued: resolved.enqueued ?? 0, halted: reason, ...(resolved.runResolved ? { runResolved: resolved.runResolved } : {}) };
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

async function divert(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, edge: DivertEdge): Promise<RouteOutcome> {
  const key = routeKey(JSON.parse(row.output ?? 'null'));
  const node = key !== null && Object.hasOwn(edge.to, key) ? edge.to[key] : edge.to.otherwise;
  if (!node) return halt(tx, row, ctx, 'condition_unmatched', `no route for key ${JSON.stringify(key)} and no otherwise`);
  return continueBranch(tx, row, ctx, node, 'divert', row.output ?? 'null');
}

function fanOutCap(ctx: RouteContext, klass: string): number {
  return settingFor(ctx.config.pipeline_advancer.steps.max_depth, -1, ctx.pipeline, klass);
}

async function divide(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, edge: DivideEdge): Promise<RouteOutcome> {
  const cap = fanOutCap(ctx, row.klass);
  if (cap !== -1 && edge.to.length > cap) {
    return halt(tx, row, ctx, 'max_fanout_exceeded', `divide into ${edge.to.length} branches exceeds pipeline_advancer.steps.max_depth ${cap}`);
  }
  const inputs = edge.to.map(() => row.output ?? 'null');
  return fanOut(tx, row, ctx, 'divide', edge.to, inputs);
}

async function expand(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, edge: ExpandEdge): Promise<RouteOutcome> {
  const items: unknown = JSON.parse(row.output ?? 'null');
  if (!Array.isArray(items)) {
    const got = items === null ? 'null' : typeof items;
    return halt(tx, row, ctx, 'transition_invalid', `expand needs an array from step ${row.klass}; it returned ${got}`);
  }
  const target = edge.to[0];
  const cap = fanOutCap(ctx, ctx.graph.edges[target]?.klass ?? target);
  if (cap !== -1 && items.length > cap) {
    return halt(tx, row, ctx, 'max_fanout_exceeded', `expand of ${items.length} elements exceeds pipeline_advancer.steps.max_depth ${cap}`);
  }
  if (items.length === 0) {
    if (!edge.collapse_into) return finish(tx, row, ctx, row.step_id);
    // An empty cohort still fires its collapse, with [].
    await markStepAdvanced(tx, row.step_id);
    await completeBranch(tx, row.branch_id, null);
    const branch: NewBranch = { id: uuidv7(), runId: row.run_id, pipelineKlass: ctx.pipeline, parentBranchId: row.branch_id, frames: row.frames };
    await insertBranches(tx, [branch]);
    await enqueueSteps(tx, [newStep(row, ctx, branch.id, edge.collapse_into, 'collapse', '[]')]);
    return { enqueued: 1 };
  }
  return fanOut(tx, row, ctx, 'expand', items.map(() => target), items.map((item) => JSON.stringify(item)));
}

/** Completes the branch and starts one child branch per target, each inside a new fan-out frame. */
async function fanOut(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, kind: 'divide' | 'expand', nodes: string[], inputs: string[]): Promise<RouteOutcome> {
  const fanoutId = uuidv7();
  const branches: NewBranch[] = [];
  const steps: NewStep[] = [];
  nodes.forEach((node, i) => {
    const frames: FanFrame[] = [...row.frames, { f: fanoutId, i }];
    const branch: NewBranch = { id: uuidv7(), runId: row.run_id, pipelineKlass: ctx.pipeline, parentBranchId: row.branch_id, frames };
    branches.push(branch);
    steps.push(newStep(row, ctx, branch.id, node, kind, inputs[i]!));
  });
  await markStepAdvanced(tx, row.step_id);
  await completeBranch(tx, row.branch_id, null);
  await insertFanout(tx, { id: fanoutId, runId: row.run_id, branchId: row.branch_id, kind, width: nodes.length, frames: row.frames });
  await insertBranches(tx, branches);
  await enqueueSteps(tx, steps);
  return { enqueued: steps.length };
}

/**
 * Brings this branch's output to the fan-in of its innermost fan-out. The arrival counter is
 * updated under the fan-out's row lock, so exactly one arriving member fires the fan-in; its
 * input lists every member's output by index.
 */
async function fanIn(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext, edge: FanInEdge): Promise<RouteOutcome> {
  const frame = row.frames.at(-1);
  if (!frame) throw new TransitionError(`${edge.type} at ${row.node} has no open fan-out to close`);
  // Lock order is always run, then fan-out: resolution (run lock) may follow the arrival.
  await lockRunForResolution(tx, row.run_id);
  await markStepAdvanced(tx, row.step_id);
  await completeBranch(tx, row.branch_id, null);
  const arrival = await arrive(tx, { fanoutId: frame.f, index: frame.i, branchId: row.branch_id, stepId: row.step_id, output: row.output ?? 'null' });
  if (FAULTS_ENABLED) await faultPoint('after_fan_in_arrival');
  if (arrival.arrived < arrival.width) return { enqueued: 0, ...(await resolveIfDone(tx, row, ctx)) };
  const input = await gatherArrivals(tx, frame.f);
  const branch: NewBranch = { id: uuidv7(), runId: row.run_id, pipelineKlass: ctx.pipeline, parentBranchId: arrival.branch_id, frames: arrival.frames };
  await insertBranches(tx, [branch]);
  await enqueueSteps(tx, [newStep(row, ctx, branch.id, edge.to[0], edge.type, input)]);
  await markFanoutFired(tx, frame.f, branch.id);
  return { enqueued: 1 };
}

/**
 * Resolves the run once no branch is open: halted if any branch halted (and then enqueues the
 * on_halt step in the same transaction, so the handler runs after the commit, durably), else
 * completed. The run row lock serializes resolvers; the open-branch check reads after it.
 */
async function resolveIfDone(tx: TxSql, row: AdvanceableBranch, ctx: RouteContext): Promise<Partial<RouteOutcome>> {
  const run = await lockRunForResolution(tx, row.run_id);
  if (!run || run.status !== 'in_progress') return {};
  if (await runHasOpenBranch(tx, row.run_id)) return {};
  const status = await resolveRun(tx, row.run_id);
  if (status === 'completed') return { runResolved: status };
  if (status !== 'halted') return {};
  const handler = ctx.graph.metadata.on_halt?.klass;
  if (!handler) return { runResolved: 'halted' };
  const id = uuidv7();
  const report = { pipelineId: row.pipeline_id, runId: row.run_id, pipeline: ctx.pipeline, reasons: await haltReasons(tx, row.run_id) };
  await enqueueSteps(tx, [{
    id, runId: row.run_id, branchId: null, pipelineKlass: ctx.pipeline, node: ON_HALT_NODE, klass: handler,
    toTransition: 'on_halt', input: JSON.stringify(report), idempotencyKey: id,
  }]);
  return { runResolved: 'halted', enqueued: 1 };
}
