import type { Sql, TxSql } from '../db/connect.js';
import { childrenInProgress, parentsOf, releaseParent } from '../db/queries/children.js';
import { uuidv7 } from '../db/ids.js';
import { advanceChannel, jobsChannel, notifyWakeup } from '../db/notify.js';
import { cancelBranches } from '../db/queries/branches.js';
import { insertJobs, parkRunJobs } from '../db/queries/jobs.js';
import { lockPipeline, markPipelineCancelled } from '../db/queries/pipelines.js';
import { haltHandlerOf, latestRun, lockRuns, markRunCancelled } from '../db/queries/runs.js';
import { ON_HALT_NODE } from '../definition/graph.js';
import { ClientError } from '../errors.js';

/** Options of a cancel. */
export interface CancelOptions {
  /** Why, stored with the pipeline and passed to its `onHalt` step. */
  reason?: string;
}

/** What a cancel did. */
export interface CancelReport {
  id: string;
  pipeline: string;
  /** Steps that were running and were told to stop (`this.signal` aborts). */
  abortedSteps: number;
}

/** The payload of the wake-up that tells engines to abort the running steps of a cancelled run. */
export const cancelPayload = (runId: string) => `cancel:${runId}`;

/**
 * Cancels a pipeline in progress, in one transaction: every job of its run is parked (no new step
 * starts; a running step's result is fenced out), its open branches and the run end `cancelled`,
 * and its `onHalt` step, if it has one, is queued with `reasons: ['cancelled']`. After the commit
 * the engines running its steps abort their `this.signal` (through the wake-up channel).
 */
export async function cancelPipeline(sql: Sql, schema: string, id: string, options: CancelOptions = {}): Promise<CancelReport> {
  const reason = options.reason ?? null;
  if (reason !== null && (typeof reason !== 'string' || reason.length > 2000)) {
    throw new ClientError('cancel_error', 'cancel: reason must be a string of at most 2000 characters.', { details: { id } });
  }
  return sql.begin((tx) => cancelInTransaction(tx, schema, id, reason));
}

/**
 * {@link cancelPipeline} inside a transaction. Children in progress are cancelled with it; a
 * cancelled child halts the parent branch that waits for it (`child_halted`).
 */
async function cancelInTransaction(tx: TxSql, schema: string, id: string, reason: string | null): Promise<CancelReport> {
  const pipeline = await lockPipeline(tx, id);
  if (!pipeline) throw new ClientError('pipeline_not_found', `No pipeline with id ${id} in schema "${schema}".`, { details: { id } });
  if (pipeline.status !== 'in_progress') {
    throw new ClientError('cancel_error', `Cannot cancel ${pipeline.status.replace('_', ' ')} pipeline ${id} (${pipeline.klass}): only a pipeline in progress can be cancelled.`, {
      details: { id, status: pipeline.status },
    });
  }
  const run = (await latestRun(tx, id))!;
  // The run first: an advancer routing this run holds it until it commits, so nothing it creates is missed.
  await lockRuns(tx, [run.id]);
  const open = await parkRunJobs(tx, run.id);
  await cancelBranches(tx, run.id);
  await markRunCancelled(tx, run.id);
  await markPipelineCancelled(tx, id, reason);
  const handler = await haltHandlerOf(tx, run.id);
  if (handler) {
    const stepId = uuidv7();
    await insertJobs(tx, [{
      pipelineKlass: pipeline.klass, pipelineId: id, runId: run.id, branchId: null, definitionSha1: handler.sha1, stepId, node: ON_HALT_NODE,
      klass: handler.klass, toTransition: 'on_halt', idempotencyKey: stepId,
      input: JSON.stringify({ pipelineId: id, runId: run.id, pipeline: pipeline.klass, reasons: ['cancelled'], cancelReason: reason }),
    }]);
    await notifyWakeup(tx, schema, jobsChannel(pipeline.klass));
  }
  let running = open.filter((c) => c.kind === 'run').length;
  if (running > 0) await notifyWakeup(tx, schema, cancelPayload(run.id));
  for (const child of await childrenInProgress(tx, id)) running += (await cancelInTransaction(tx, schema, child, reason)).abortedSteps;
  for (const link of await parentsOf(tx, [id])) {
    if (await releaseParent(tx, link.parent_pipeline_id, id, { error: `child pipeline ${id} (${pipeline.klass}) cancelled${reason ? `: ${reason}` : ''}` })) {
      await notifyWakeup(tx, schema, advanceChannel(link.parent_klass));
    }
  }
  return { id, pipeline: pipeline.klass, abortedSteps: running };
}
