import type { Sql } from '../db/connect.js';
import { branchOfRun } from '../db/queries/branch-retry.js';
import { lockPipeline } from '../db/queries/pipelines.js';
import { latestRun } from '../db/queries/runs.js';
import { ClientError } from '../errors.js';
import { reviveInTransaction, type ReviveOptions } from './revive.js';

/**
 * Retries one halted branch of a halted pipeline: a revive (a new run keeping every completed
 * step and output) in which only that branch resumes; the pipeline's other halted branches stay
 * halted, so the new run halts again once the retried branch is done, unless it was the last
 * one. A fan-in waiting on a branch still halted keeps waiting for it. One transaction.
 * Returns the pipeline's class. Throws `revive_error` unless the branch is halted in the latest run.
 */
export async function retryBranch(sql: Sql, schema: string, pipelineId: string, branchId: string, options: ReviveOptions = {}): Promise<string> {
  return sql.begin(async (tx) => {
    const pipeline = await lockPipeline(tx, pipelineId);
    if (!pipeline) throw new ClientError('pipeline_not_found', `No pipeline with id ${pipelineId}.`, { details: { id: pipelineId } });
    const previous = await latestRun(tx, pipelineId);
    const branch = previous && (await branchOfRun(tx, previous.id, branchId));
    if (!previous || branch?.status !== 'halted' || pipeline.status !== 'halted') {
      const what = !branch ? 'it is not a branch of its latest run'
        : branch.status !== 'halted' ? `it is ${branch.status.replace('_', ' ')}`
        : `the pipeline is ${pipeline.status.replace('_', ' ')} (a branch is retried once its pipeline has halted)`;
      throw new ClientError('revive_error', `Cannot retry branch ${branchId} of pipeline ${pipelineId} (${pipeline.klass}): ${what}; only halted branches of the latest run can be retried.`, {
        details: { id: pipelineId, branchId, status: branch?.status },
      });
    }
    return (await reviveInTransaction(tx, schema, pipelineId, { ...options, onlyBranch: branchId })).klass;
  });
}
