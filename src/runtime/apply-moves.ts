/**
 * Carries out a batch of planned moves ({@link planMove}) inside the advancer's transaction, in a
 * fixed number of statements whatever the batch size: one per kind of write, not one per branch.
 * A crash anywhere rolls the whole batch back, and the branch locks go with the rollback.
 */
import type { TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { completeBranches, haltBranches, haltReasons, insertBranches, resetAdvanceErrors, type HaltReason, type NewBranch } from '../db/queries/branches.js';
import { arrive, gatherArrivals, insertFanouts, markFanoutsFired, type NewFanout } from '../db/queries/fanouts.js';
import { lockRuns, resolveRuns } from '../db/queries/runs.js';
import { enqueueSteps, markStepsAdvanced, type NewStep } from '../db/queries/steps.js';
import type { PipelineStatus } from '../db/queries/pipelines.js';
import { ON_HALT_NODE, type DefinitionGraph } from '../definition/graph.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import type { Move } from './route.js';

/** What a batch did, for wake-ups and logs. */
export interface AppliedBatch {
  /** Steps enqueued (the job workers have work). */
  enqueued: number;
  halted: Extract<Move, { kind: 'halt' }>[];
  resolved: { id: string; status: PipelineStatus }[];
}

/** The frozen definition of a run in the batch (for its on_halt handler). */
export type GraphOf = (runId: string) => DefinitionGraph | undefined;

export async function applyMoves(tx: TxSql, moves: Move[], pipeline: string, graphOf: GraphOf): Promise<AppliedBatch> {
  const outcome: AppliedBatch = { enqueued: 0, halted: [], resolved: [] };
  if (moves.length === 0) return outcome;

  // Lock order is always run, then fan-out: resolution and arrivals both need the run locked.
  const mayResolve = moves.filter((m) => m.kind === 'finish' || m.kind === 'halt' || m.kind === 'fanIn');
  if (mayResolve.length > 0) await lockRuns(tx, unique(mayResolve.map((m) => m.row.run_id)).sort());

  await markStepsAdvanced(tx, moves.map((m) => m.row.step_id));
  const ending = moves.flatMap((m) =>
    m.kind === 'finish' ? [{ id: m.row.branch_id, terminalStepId: m.terminalStepId }]
    : m.kind === 'fanOut' || m.kind === 'fanIn' ? [{ id: m.row.branch_id, terminalStepId: null }]
    : [],
  );
  if (ending.length > 0) await completeBranches(tx, ending);
  const halts = moves.filter((m): m is Extract<Move, { kind: 'halt' }> => m.kind === 'halt');
  if (halts.length > 0) await haltBranches(tx, halts.map((m) => ({ id: m.row.branch_id, reason: m.reason, detail: m.detail })));
  outcome.halted = halts;
  const resets = moves.filter((m) => m.kind === 'continue' && m.row.advance_errors > 0);
  if (resets.length > 0) await resetAdvanceErrors(tx, resets.map((m) => m.row.branch_id));

  const branches: NewBranch[] = [];
  const steps: NewStep[] = [];
  const fanouts: NewFanout[] = [];
  for (const m of moves) {
    if (m.kind === 'continue') steps.push(m.step);
    if (m.kind === 'fanOut') {
      if (m.fanout) fanouts.push(m.fanout);
      branches.push(...m.branches);
      steps.push(...m.steps);
    }
  }
  if (fanouts.length > 0) await insertFanouts(tx, fanouts);

  const fired = await fanIn(tx, moves, pipeline, branches, steps);
  if (branches.length > 0) await insertBranches(tx, branches);
  if (steps.length > 0) await enqueueSteps(tx, steps);
  if (fired.size > 0) await markFanoutsFired(tx, [...fired].map(([fanoutId, branchId]) => ({ fanoutId, branchId })));
  outcome.enqueued = steps.length;

  // A fan-in that fired opened a branch, so its run cannot be done; every other candidate is checked.
  const candidates = unique(mayResolve.filter((m) => m.kind !== 'fanIn' || !fired.has(m.frame.f)).map((m) => m.row.run_id));
  if (candidates.length > 0) outcome.resolved = await resolveRuns(tx, candidates);
  outcome.enqueued += await startHaltHandlers(tx, outcome.resolved, moves, pipeline, graphOf);
  return outcome;
}

/**
 * Records the batch's arrivals and, for each fan-out whose count they complete, adds the fan-in's
 * branch and step (input: every member's output in index order) to `branches` and `steps`.
 * Returns fired fan-out id → the new branch id.
 */
async function fanIn(tx: TxSql, moves: Move[], pipeline: string, branches: NewBranch[], steps: NewStep[]): Promise<Map<string, string>> {
  const arrivals = moves.filter((m): m is Extract<Move, { kind: 'fanIn' }> => m.kind === 'fanIn');
  const fired = new Map<string, string>();
  if (arrivals.length === 0) return fired;
  const counts = await arrive(tx, arrivals.map((m) => ({ fanoutId: m.frame.f, index: m.frame.i, branchId: m.row.branch_id, stepId: m.row.step_id, output: m.row.output ?? 'null' })));
  if (FAULTS_ENABLED) await faultPoint('after_fan_in_arrival');
  const full = counts.filter((c) => c.arrived === c.width);
  if (full.length === 0) return fired;
  const inputs = await gatherArrivals(tx, full.map((c) => c.id));
  for (const count of full) {
    const arriving = arrivals.find((m) => m.frame.f === count.id)!;
    const branch: NewBranch = { id: uuidv7(), runId: arriving.row.run_id, pipelineKlass: pipeline, parentBranchId: count.branch_id, frames: count.frames };
    const id = uuidv7();
    branches.push(branch);
    steps.push({
      id, runId: branch.runId, branchId: branch.id, pipelineKlass: branch.pipelineKlass, node: arriving.target.node, klass: arriving.target.klass,
      toTransition: arriving.target.via, input: inputs.get(count.id) ?? '[]', idempotencyKey: id,
    });
    fired.set(count.id, branch.id);
  }
  return fired;
}

/** Enqueues the on_halt step of every run that halted here and has a handler, so it runs durably after the commit. */
async function startHaltHandlers(tx: TxSql, resolved: AppliedBatch['resolved'], moves: Move[], pipeline: string, graphOf: GraphOf): Promise<number> {
  const steps: NewStep[] = [];
  for (const run of resolved) {
    const handler = run.status === 'halted' ? graphOf(run.id)?.metadata.on_halt?.klass : undefined;
    if (!handler) continue;
    const row = moves.find((m) => m.row.run_id === run.id)!.row;
    const reasons: HaltReason[] = await haltReasons(tx, run.id);
    const id = uuidv7();
    steps.push({
      id, runId: run.id, branchId: null, pipelineKlass: pipeline, node: ON_HALT_NODE, klass: handler, toTransition: 'on_halt',
      input: JSON.stringify({ pipelineId: row.pipeline_id, runId: run.id, pipeline, reasons }), idempotencyKey: id,
    });
  }
  if (steps.length > 0) await enqueueSteps(tx, steps);
  return steps.length;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
