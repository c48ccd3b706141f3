import type { Sql, TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { advanceChannel, jobsChannel, notifyWakeup } from '../db/notify.js';
import { branchesOfRun, copyBranches, resumeCancelledBranches, type CopiedBranch, type FanFrame } from '../db/queries/branches.js';
import { copyFanouts, fanoutsOfRun } from '../db/queries/fanouts.js';
import { insertAdvances, insertJobs, unparkRunJobs, type NewAdvance, type NewJob } from '../db/queries/jobs.js';
import { lockPipeline, setPipelineStatus } from '../db/queries/pipelines.js';
import { insertRunFrom, latestRun, lockRuns, markRunResumed } from '../db/queries/runs.js';
import { copySteps, stepsOfRun, type CopiedStep, type StepRow } from '../db/queries/steps.js';
import { copyTuples } from '../db/queries/tuples.js';
import { ClientError } from '../errors.js';

/** Options of a revive. */
export interface ReviveOptions {
  /** Carry the halted run's context (`this.context`) into the new run. Default true: completed steps are kept, so what they stored must be too. */
  duplicateContext?: boolean;
}

/**
 * Re-runs a halted pipeline as a new run, in one transaction: completed branches and steps are
 * copied with their outputs, and so are fan-outs with every member's arrival, so a later combine or
 * collapse receives all its inputs. Each halted branch resumes where it stopped: a step that
 * exhausted its retry or crash budget runs again with fresh budgets and the same idempotency key;
 * a branch halted while routing gets its step back to be routed again. With `onlyBranch`, only that
 * halted branch resumes and the others are copied still halted. The halted run is left as it was.
 * Returns the pipeline's class.
 */
export async function revivePipeline(sql: Sql, schema: string, pipelineId: string, options: ReviveOptions = {}): Promise<string> {
  return sql.begin(async (tx) => (await reviveInTransaction(tx, schema, pipelineId, options)).klass);
}

/** {@link revivePipeline} inside a transaction the caller opened. */
export async function reviveInTransaction(
  tx: TxSql,
  schema: string,
  pipelineId: string,
  options: ReviveOptions & { onlyBranch?: string } = {},
): Promise<{ runId: string; klass: string }> {
  const pipeline = await lockPipeline(tx, pipelineId);
  if (!pipeline) throw new ClientError('pipeline_not_found', `No pipeline with id ${pipelineId}.`, { details: { id: pipelineId } });
  if (pipeline.status === 'cancelled' && options.onlyBranch === undefined) return resumeCancelled(tx, schema, pipeline.id, pipeline.klass);
  if (pipeline.status !== 'halted') {
    throw new ClientError('revive_error', `Cannot revive ${pipeline.status.replace('_', ' ')} pipeline ${pipelineId} (${pipeline.klass}): only halted or cancelled pipelines can be revived.`, {
      details: { id: pipelineId, status: pipeline.status },
    });
  }
  const previous = await latestRun(tx, pipelineId);
  if (!previous) throw new ClientError('revive_error', `Cannot revive pipeline without previous run (${pipelineId}).`, { details: { id: pipelineId } });

  const [branches, steps, fanouts] = await Promise.all([branchesOfRun(tx, previous.id), stepsOfRun(tx, previous.id), fanoutsOfRun(tx, previous.id)]);
  const newId = new Map<string, string>();
  const remap = (id: string | null) => (id === null ? null : newId.get(id) ?? id);
  for (const row of [...branches, ...fanouts]) newId.set(row.id, uuidv7());
  for (const step of steps) if (step.branch_id !== null) newId.set(step.id, uuidv7());
  const remapFrames = (frames: FanFrame[]) => frames.map((frame) => ({ f: remap(frame.f)!, i: frame.i }));

  const byBranch = new Map<string, StepRow[]>();
  for (const step of steps) {
    if (step.branch_id === null) continue; // the on_halt step belongs to no branch
    byBranch.set(step.branch_id, [...(byBranch.get(step.branch_id) ?? []), step]);
  }
  const runId = uuidv7();
  const copied: CopiedStep[] = [];
  const rerun: NewJob[] = [];
  const reroute: NewAdvance[] = [];
  const copy = (step: StepRow): CopiedStep => ({
    id: remap(step.id)!, branchId: remap(step.branch_id)!, sourceStepId: step.id, node: step.node, klass: step.klass, toTransition: step.to_transition,
    status: step.status === 'failed' ? 'failed' : 'completed', input: step.input, inputRef: remap(step.input_ref), inputIdx: step.input_idx,
    output: step.output, idempotencyKey: step.idempotency_key, retryCount: step.retry_count, crashCount: step.crash_count,
  });
  const copiedBranches: CopiedBranch[] = [];
  for (const branch of branches) {
    const own = byBranch.get(branch.id) ?? [];
    const resumes = branch.status === 'halted' && own.length > 0 && (options.onlyBranch === undefined || options.onlyBranch === branch.id);
    copiedBranches.push({
      id: remap(branch.id)!, parentBranchId: remap(branch.parent_branch_id), frames: remapFrames(branch.frames),
      status: resumes ? 'in_progress' : branch.status === 'halted' ? 'halted' : 'completed',
      haltReason: resumes ? null : branch.halt_reason, haltDetail: resumes ? null : branch.halt_detail,
      terminalStepId: remap(branch.terminal_step_id), arrivalStepId: remap(branch.arrival_step_id),
    });
    const latest = own.at(-1);
    if (!resumes || !latest) {
      copied.push(...own.map(copy));
      continue;
    }
    copied.push(...own.slice(0, -1).map(copy));
    const common = {
      pipelineKlass: pipeline.klass, pipelineId, runId, branchId: remap(branch.id)!, definitionSha1: previous.definition_sha1,
      stepId: remap(latest.id)!, node: latest.node, klass: latest.klass, toTransition: latest.to_transition, idempotencyKey: latest.idempotency_key,
    };
    if (branch.halt_reason === 'job_retries_exhausted' || branch.halt_reason === 'job_crashes_exhausted') {
      rerun.push({ ...common, input: latest.input, inputRef: remap(latest.input_ref), inputIdx: latest.input_idx, sourceStepId: latest.id });
    } else {
      copied.push({ ...copy(latest), status: 'completed' });
      reroute.push(common);
    }
  }

  await insertRunFrom(tx, { id: runId, previousRunId: previous.id });
  await copyBranches(tx, runId, pipeline.klass, copiedBranches);
  await copySteps(tx, runId, copied);
  await copyFanouts(
    tx, runId,
    fanouts.map((f) => ({ id: remap(f.id)!, branchId: remap(f.branch_id)!, kind: f.kind, width: f.width, arrived: f.arrived, frames: remapFrames(f.frames), firedBranchId: remap(f.fired_branch_id) })),
  );
  if (rerun.length > 0) await insertJobs(tx, rerun);
  if (reroute.length > 0) await insertAdvances(tx, reroute);
  if (options.duplicateContext !== false) await copyTuples(tx, previous.id, runId);
  if (rerun.length === 0 && reroute.length === 0) {
    // Nothing resumes (a retried branch that had no step): the run is as halted as it was.
    throw new ClientError('revive_error', `Cannot revive pipeline ${pipelineId} (${pipeline.klass}): no halted branch has a step to resume.`, { details: { id: pipelineId } });
  }
  await setPipelineStatus(tx, pipelineId, 'in_progress');
  // Re-run steps wait for a job worker; a re-routed step waits for an advancer.
  if (rerun.length > 0) await notifyWakeup(tx, schema, jobsChannel(pipeline.klass));
  if (reroute.length > 0) await notifyWakeup(tx, schema, advanceChannel(pipeline.klass));
  return { runId, klass: pipeline.klass };
}

/**
 * Revives a cancelled pipeline in place: its run and the branches the cancel ended are in progress
 * again and its parked jobs are due now, so every step, delay and wait resumes where it stopped
 * (a delay that had not run out is not resumed for its remainder: the next step is due at once).
 */
async function resumeCancelled(tx: TxSql, schema: string, pipelineId: string, klass: string): Promise<{ runId: string; klass: string }> {
  const run = (await latestRun(tx, pipelineId))!;
  await lockRuns(tx, [run.id]);
  await markRunResumed(tx, run.id);
  await resumeCancelledBranches(tx, run.id);
  await unparkRunJobs(tx, run.id);
  await setPipelineStatus(tx, pipelineId, 'in_progress');
  await notifyWakeup(tx, schema, jobsChannel(klass));
  await notifyWakeup(tx, schema, advanceChannel(klass));
  // Children cancelled with it resume with it.
  for (const child of await tx`select id, klass from pipelines where parent_pipeline_id = ${pipelineId} and status = 'cancelled' for update`) {
    await resumeCancelled(tx, schema, child.id as string, child.klass as string);
  }
  return { runId: run.id, klass };
}
