import type { Sql, TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { advanceChannel, jobsChannel, notifyWakeup } from '../db/notify.js';
import { branchesOfRun, copyBranches, type FanFrame } from '../db/queries/branches.js';
import { arrivalsOfRun, copyFanouts, fanoutsOfRun } from '../db/queries/fanouts.js';
import { lockPipeline, setPipelineStatus } from '../db/queries/pipelines.js';
import { insertRunFrom, latestRun } from '../db/queries/runs.js';
import { copySteps, enqueueSteps, stepsOfRun, type CopiedStep, type NewStep, type StepRow } from '../db/queries/steps.js';
import { copyTuples } from '../db/queries/tuples.js';
import { ClientError } from '../errors.js';

/** Options of a revive. */
export interface ReviveOptions {
  /** Carry the halted run's context (`this.context`) into the new run. Default true: completed steps are kept, so what they stored must be too. */
  duplicateContext?: boolean;
}

/**
 * Re-runs a halted pipeline as a new run, in one transaction: completed branches and steps are
 * copied with their outputs, and so are fan-outs with every arrival, so a later combine or
 * collapse receives all its inputs. Each halted branch resumes where it stopped: a step that
 * exhausted its retry or crash budget runs again with fresh budgets and the same idempotency
 * key; a branch halted while routing gets its step back to be routed again. The halted run is
 * left as it was. Returns the new run's id.
 */
export async function revivePipeline(sql: Sql, schema: string, pipelineId: string, options: ReviveOptions = {}): Promise<string> {
  return sql.begin((tx) => reviveInTransaction(tx, schema, pipelineId, options));
}

/** {@link revivePipeline} inside a transaction the caller opened (a branch retry adds its own writes). */
export async function reviveInTransaction(tx: TxSql, schema: string, pipelineId: string, options: ReviveOptions = {}): Promise<string> {
  const pipeline = await lockPipeline(tx, pipelineId);
  if (!pipeline) throw new ClientError('pipeline_not_found', `No pipeline with id ${pipelineId}.`, { details: { id: pipelineId } });
  if (pipeline.status !== 'halted') {
    throw new ClientError('revive_error', `Cannot revive ${pipeline.status.replace('_', ' ')} pipeline ${pipelineId} (${pipeline.klass}): only halted pipelines can be revived.`, {
      details: { id: pipelineId, status: pipeline.status },
    });
  }
  const previous = await latestRun(tx, pipelineId);
  if (!previous) throw new ClientError('revive_error', `Cannot revive pipeline without previous run (${pipelineId}).`, { details: { id: pipelineId } });

  const [branches, steps, fanouts, arrivals] = await Promise.all([
    branchesOfRun(tx, previous.id),
    stepsOfRun(tx, previous.id),
    fanoutsOfRun(tx, previous.id),
    arrivalsOfRun(tx, previous.id),
  ]);
  const newId = new Map<string, string>();
  const remap = (id: string | null) => (id === null ? null : newId.get(id) ?? id);
  for (const row of [...branches, ...fanouts]) newId.set(row.id, uuidv7());
  const remapFrames = (frames: FanFrame[]) => frames.map((frame) => ({ f: remap(frame.f)!, i: frame.i }));

  const byBranch = new Map<string, StepRow[]>();
  for (const step of steps) {
    if (step.branch_id === null) continue; // the on_halt step belongs to no branch
    byBranch.set(step.branch_id, [...(byBranch.get(step.branch_id) ?? []), step]);
  }
  const copied: CopiedStep[] = [];
  const rerun: NewStep[] = [];
  const copy = (step: StepRow, status: 'completed' | 'advancing'): CopiedStep => {
    const id = uuidv7();
    newId.set(step.id, id);
    return {
      id, branchId: remap(step.branch_id)!, sourceStepId: step.id, node: step.node, klass: step.klass,
      toTransition: step.to_transition, status, input: step.input, output: step.output, idempotencyKey: step.idempotency_key,
    };
  };
  const runId = uuidv7();
  for (const branch of branches) {
    const own = byBranch.get(branch.id) ?? [];
    if (branch.status !== 'halted') {
      for (const step of own) copied.push(copy(step, 'completed'));
      continue;
    }
    const latest = own.at(-1);
    for (const step of own.slice(0, -1)) copied.push(copy(step, 'completed'));
    if (!latest) continue;
    if (branch.halt_reason === 'job_retries_exhausted' || branch.halt_reason === 'job_crashes_exhausted') {
      const id = uuidv7();
      newId.set(latest.id, id);
      rerun.push({
        id, runId, branchId: remap(branch.id), pipelineKlass: pipeline.klass, node: latest.node, klass: latest.klass,
        toTransition: latest.to_transition, input: latest.input, idempotencyKey: latest.idempotency_key, sourceStepId: latest.id,
      });
    } else {
      copied.push(copy(latest, 'advancing'));
    }
  }

  await insertRunFrom(tx, { id: runId, previousRunId: previous.id });
  await copyBranches(tx, runId, pipeline.klass, branches.map((b) => ({
    id: remap(b.id)!, parentBranchId: remap(b.parent_branch_id), frames: remapFrames(b.frames),
    status: b.status === 'halted' ? 'in_progress' : 'completed', terminalStepId: remap(b.terminal_step_id),
  })));
  await copySteps(tx, runId, pipeline.klass, copied);
  if (rerun.length > 0) await enqueueSteps(tx, rerun);
  await copyFanouts(
    tx, runId,
    fanouts.map((f) => ({ id: remap(f.id)!, branchId: remap(f.branch_id)!, kind: f.kind, width: f.width, arrived: f.arrived, frames: remapFrames(f.frames), firedBranchId: remap(f.fired_branch_id) })),
    arrivals.map((a) => ({ fanoutId: remap(a.fanout_id)!, index: a.idx, branchId: remap(a.branch_id)!, stepId: remap(a.step_id)!, output: a.output })),
  );
  if (options.duplicateContext !== false) await copyTuples(tx, previous.id, runId);
  await setPipelineStatus(tx, pipelineId, 'in_progress');
  // Re-run steps wait for a job worker; a re-routed step waits for an advancer.
  await notifyWakeup(tx, schema, rerun.length > 0 ? jobsChannel(pipeline.klass) : advanceChannel(pipeline.klass));
  return runId;
}
