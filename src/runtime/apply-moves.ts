/**
 * Carries out a batch of planned moves ({@link planMove}) inside the advancer's routing
 * transaction, in a fixed number of statements whatever the batch size (one per kind of write,
 * plus one per expand, which builds its members in SQL). A crash anywhere rolls the whole batch
 * back; the claims stay counted against the advancer crash budget.
 */
import type { TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { completeBranches, haltBranches, haltReasons, insertBranches, type NewBranch } from '../db/queries/branches.js';
import { countArrivals, insertExpandMembers, insertFanInJobs, insertFanouts, markFanoutsFired, type FiredFanIn, type NewFanout } from '../db/queries/fanouts.js';
import { continueJobs, deleteJobs, deliverWait, insertJobs, parkWait, type NewJob } from '../db/queries/jobs.js';
import { consumeSignal, lockPipelineSignals } from '../db/queries/signals.js';
import { lockRuns, resolveRuns, runOutput } from '../db/queries/runs.js';
import { parentsOf, releaseParent } from '../db/queries/children.js';
import { resultIsArray } from '../definition/output-shape.js';
import type { PipelineStatus } from '../db/queries/pipelines.js';
import { ON_HALT_NODE, type DefinitionGraph } from '../definition/graph.js';
import { FAULTS_ENABLED, faultPoint } from './fault.js';
import type { Move } from './route.js';

/** What a batch did, for wake-ups and logs. */
export interface AppliedBatch {
  /** Steps enqueued (the job workers have work), by pipeline. */
  enqueued: Map<string, number>;
  halted: Extract<Move, { kind: 'halt' }>[];
  resolved: { id: string; status: PipelineStatus; pipeline_id: string }[];
  /** Parent pipelines (by class) whose child ended here: their branches wait for the advancer. */
  releasedParents?: string[];
}

/** The definition of a run in the batch (for its on_halt handler). */
export type GraphOf = (runId: string) => DefinitionGraph | undefined;

/**
 * `runsLocked`: the caller locked the runs of every move already ({@link lockRuns}, before their
 * advance jobs, which is the order a cancel takes them in).
 */
export async function applyMoves(tx: TxSql, planned: Move[], graphOf: GraphOf, options: { runsLocked?: boolean } = {}): Promise<AppliedBatch> {
  const outcome: AppliedBatch = { enqueued: new Map(), halted: [], resolved: [] };
  if (planned.length === 0) return outcome;
  const enqueue = (pipeline: string, n: number) => n > 0 && outcome.enqueued.set(pipeline, (outcome.enqueued.get(pipeline) ?? 0) + n);

  // Lock order is always run, then fan-out: resolution and arrivals need the run locked, and a
  // cancel, which locks the run first, must not miss a job this batch creates.
  if (!options.runsLocked) await lockRuns(tx, unique(planned.map((m) => m.claim.run_id)).sort());
  const moves = await settleWaits(tx, planned, enqueue);
  const mayResolve = moves.filter((m) => m.kind === 'finish' || m.kind === 'halt' || m.kind === 'fanIn');

  const continued = moves.filter((m): m is Extract<Move, { kind: 'continue' }> => m.kind === 'continue');
  if (continued.length > 0) {
    await continueJobs(tx, continued.map((m) => ({ jobId: m.claim.id, fromStepId: m.claim.step_id, next: m.next })));
    for (const m of continued) enqueue(m.claim.pipeline_klass, 1);
  }
  const ended = moves.filter((m) => m.kind !== 'continue');
  if (ended.length > 0) await deleteJobs(tx, ended.map((m) => m.claim.id));

  const halts = moves.filter((m): m is Extract<Move, { kind: 'halt' }> => m.kind === 'halt');
  if (halts.length > 0) await haltBranches(tx, halts.map((m) => ({ id: m.claim.branch_id, reason: m.reason, detail: m.detail })));
  outcome.halted = halts;

  const completing = moves.flatMap((m): { id: string; terminalStepId: string | null; arrivalStepId: string | null }[] =>
    m.kind === 'finish' ? [{ id: m.claim.branch_id, terminalStepId: m.terminal ? m.claim.step_id : null, arrivalStepId: null }]
    : m.kind === 'divide' || m.kind === 'expand' || m.kind === 'empty' ? [{ id: m.claim.branch_id, terminalStepId: null, arrivalStepId: null }]
    : m.kind === 'fanIn' ? [{ id: m.claim.branch_id, terminalStepId: null, arrivalStepId: m.claim.step_id }]
    : [],
  );
  const completed = completing.length > 0 ? await completeBranches(tx, completing) : new Set<string>();

  const fanouts: NewFanout[] = [];
  const branches: NewBranch[] = [];
  const jobs: NewJob[] = [];
  for (const m of moves) {
    if (m.kind === 'divide') {
      fanouts.push(m.fanout);
      branches.push(...m.branches);
      jobs.push(...m.jobs);
    } else if (m.kind === 'expand') {
      fanouts.push(m.fanout);
    } else if (m.kind === 'empty') {
      branches.push(m.branch);
      jobs.push(m.job);
    }
  }
  if (fanouts.length > 0) await insertFanouts(tx, fanouts);
  if (branches.length > 0) await insertBranches(tx, branches);
  if (jobs.length > 0) await insertJobs(tx, jobs);
  for (const job of jobs) enqueue(job.pipelineKlass, 1);
  for (const m of moves) {
    if (m.kind !== 'expand') continue;
    const created = await insertExpandMembers(tx, {
      fanoutId: m.fanout.id, stepId: m.claim.step_id, runId: m.claim.run_id, pipelineId: m.claim.pipeline_id, pipelineKlass: m.claim.pipeline_klass,
      definitionSha1: m.claim.definition_sha1, parentBranchId: m.claim.branch_id, frames: m.claim.frames, node: m.target.node, klass: m.target.klass,
    });
    enqueue(m.claim.pipeline_klass, created);
  }

  const fired = await fanIn(tx, moves.filter((m): m is Extract<Move, { kind: 'fanIn' }> => m.kind === 'fanIn' && completed.has(m.claim.branch_id)));
  for (const f of fired.values()) enqueue(f.pipelineKlass, 1);

  // A fan-in that fired opened a branch, so its run cannot be done; every other candidate is checked.
  const candidates = unique(mayResolve.filter((m) => m.kind !== 'fanIn' || !fired.has(m.frame.f)).map((m) => m.claim.run_id));
  if (candidates.length > 0) outcome.resolved = await resolveRuns(tx, candidates);
  if (outcome.resolved.length > 0) outcome.releasedParents = await releaseParents(tx, outcome.resolved, graphOf);
  for (const [pipeline, n] of await startHaltHandlers(tx, outcome.resolved, moves, graphOf)) enqueue(pipeline, n);
  return outcome;
}

/**
 * Settles the batch's waits, one pipeline at a time under its signal lock: a pending signal is
 * consumed and its payload starts the wait's next step; else a branch arriving at its wait parks
 * (a `wait` job due at its timeout); a wait whose timeout passed continues at `onTimeout` or
 * halts `wait_timed_out` (returned as moves for the rest of the batch); a wait woken for a
 * signal another branch took parks again. Returns the other moves.
 */
async function settleWaits(tx: TxSql, moves: Move[], enqueue: (pipeline: string, n: number) => void): Promise<Move[]> {
  const waits = moves.filter((m): m is Extract<Move, { kind: 'wait' }> => m.kind === 'wait');
  if (waits.length === 0) return moves;
  const rest = moves.filter((m) => m.kind !== 'wait');
  waits.sort((a, b) => (a.claim.pipeline_id < b.claim.pipeline_id ? -1 : a.claim.pipeline_id > b.claim.pipeline_id ? 1 : 0));
  let locked = '';
  for (const m of waits) {
    const { claim } = m;
    if (claim.pipeline_id !== locked) await lockPipelineSignals(tx, (locked = claim.pipeline_id));
    const payload = await consumeSignal(tx, claim.pipeline_id, m.event, m.next.id);
    if (payload !== undefined) {
      await deliverWait(tx, claim.id, m.next, payload, m.after);
      enqueue(claim.pipeline_klass, 1);
    } else if (claim.kind === 'wait' && claim.timed_out) {
      rest.push(m.onTimeout
        ? { kind: 'continue', claim, next: m.onTimeout }
        : { kind: 'halt', claim, reason: 'wait_timed_out', detail: `no "${m.event}" signal came within ${m.timeoutSeconds} s of the wait after step ${claim.klass} (${claim.node})` });
    } else {
      await parkWait(tx, claim, m.event, m.timeoutSeconds);
    }
  }
  return rest;
}

/**
 * Counts the batch's arrivals and, for each fan-out whose count they complete, starts the fan-in:
 * a new branch and the job of its step (input: every member's output in index order, gathered in
 * SQL). Returns fired fan-out id → what fired.
 */
async function fanIn(tx: TxSql, arrivals: Extract<Move, { kind: 'fanIn' }>[]): Promise<Map<string, FiredFanIn>> {
  const fired = new Map<string, FiredFanIn>();
  if (arrivals.length === 0) return fired;
  const perFanout = new Map<string, number>();
  for (const m of arrivals) perFanout.set(m.frame.f, (perFanout.get(m.frame.f) ?? 0) + 1);
  const counts = await countArrivals(tx, [...perFanout].map(([fanoutId, count]) => ({ fanoutId, count })));
  if (FAULTS_ENABLED) await faultPoint('after_fan_in_arrival');
  const full = counts.filter((c) => c.arrived === c.width);
  if (full.length === 0) return fired;
  const branches: NewBranch[] = [];
  for (const count of full) {
    const arriving = arrivals.find((m) => m.frame.f === count.id)!;
    const { claim } = arriving;
    const branch: NewBranch = { id: uuidv7(), runId: claim.run_id, pipelineKlass: claim.pipeline_klass, parentBranchId: count.branch_id, frames: count.frames };
    branches.push(branch);
    fired.set(count.id, {
      fanoutId: count.id, branchId: branch.id, stepId: uuidv7(), runId: claim.run_id, pipelineId: claim.pipeline_id, pipelineKlass: claim.pipeline_klass,
      definitionSha1: claim.definition_sha1, node: arriving.target.node, klass: arriving.target.klass, via: arriving.target.via,
    });
  }
  await insertBranches(tx, branches);
  await insertFanInJobs(tx, [...fired.values()]);
  await markFanoutsFired(tx, [...fired.values()].map((f) => ({ fanoutId: f.fanoutId, branchId: f.branchId })));
  return fired;
}

/**
 * The runs that ended here and belong to child pipelines hand their result (or their halt) to the
 * parent branch waiting for them. Returns the parents' classes that have an advancement due.
 */
async function releaseParents(tx: TxSql, resolved: { id: string; status: PipelineStatus; pipeline_id: string }[], graphOf: GraphOf): Promise<string[]> {
  const parents = await parentsOf(tx, resolved.map((r) => r.pipeline_id));
  const woken: string[] = [];
  for (const link of parents) {
    const run = resolved.find((r) => r.pipeline_id === link.id)!;
    const graph = graphOf(run.id);
    const outcome = run.status === 'completed'
      ? { output: (await runOutput(tx, run.id, graph ? resultIsArray(graph) : false)) ?? 'null' }
      : { error: `child pipeline ${link.id} ${run.status}` };
    if (await releaseParent(tx, link.parent_pipeline_id, link.id, outcome)) woken.push(link.parent_klass);
  }
  return woken;
}

/** Enqueues the on_halt step of every run that halted here and has a handler, so it runs durably after the commit. */
async function startHaltHandlers(tx: TxSql, resolved: AppliedBatch['resolved'], moves: Move[], graphOf: GraphOf): Promise<Map<string, number>> {
  const jobs: NewJob[] = [];
  for (const run of resolved) {
    const handler = run.status === 'halted' ? graphOf(run.id)?.metadata.on_halt?.klass : undefined;
    if (!handler) continue;
    const { claim } = moves.find((m) => m.claim.run_id === run.id)!;
    const id = uuidv7();
    jobs.push({
      pipelineKlass: claim.pipeline_klass, pipelineId: claim.pipeline_id, runId: run.id, branchId: null, definitionSha1: claim.definition_sha1,
      stepId: id, node: ON_HALT_NODE, klass: handler, toTransition: 'on_halt', idempotencyKey: id,
      input: JSON.stringify({ pipelineId: claim.pipeline_id, runId: run.id, pipeline: claim.pipeline_klass, reasons: await haltReasons(tx, run.id) }),
    });
  }
  if (jobs.length > 0) await insertJobs(tx, jobs);
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.pipelineKlass, (counts.get(job.pipelineKlass) ?? 0) + 1);
  return counts;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
