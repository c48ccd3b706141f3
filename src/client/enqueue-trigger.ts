import type { Queryable, TxSql } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import { jobsChannel, notifyWakeup } from '../db/notify.js';
import { insertBranches } from '../db/queries/branches.js';
import { insertDefinition } from '../db/queries/definitions.js';
import { insertJobs } from '../db/queries/jobs.js';
import { registerPipelineClass } from '../db/queries/pipeline-classes.js';
import { findKeyedPipeline, insertPipeline } from '../db/queries/pipelines.js';
import { insertRun } from '../db/queries/runs.js';
import type { PipelineDefinition } from '../definition/define.js';

/** One trigger, resolved: what {@link enqueueTrigger} writes. */
export interface TriggerRows {
  definition: PipelineDefinition<unknown, unknown>;
  pipeline: string;
  /** JSON text of the input. */
  input: string;
  /** Deduplication key: a pipeline of this class and key that exists is returned instead. */
  key?: string | undefined;
  /** Start no earlier than this (null: now, by the database clock). */
  runAt?: Date | null | undefined;
  /** Or start this many seconds from now (database clock). */
  delaySeconds?: number | undefined;
  /** The `traceparent` of the trigger's span, stored so every span of the pipeline joins its trace. */
  traceContext?: string | null;
  /** Also store the definition and register it as the class's current one (the first trigger of it). */
  storeDefinition: boolean;
}

/**
 * Writes a trigger inside `tx`: the pipeline, its run, its first branch and the job of its first
 * step, and a wake-up for the job workers (sent at commit). With a key, a pipeline that already
 * has it is returned (`created: false`) and nothing else is written; two transactions with the
 * same key serialize on the unique index (pipelines_key), so exactly one creates it.
 */
export async function enqueueTrigger(tx: TxSql, schema: string, rows: TriggerRows): Promise<{ id: string; created: boolean }> {
  const { definition, pipeline } = rows;
  const pipelineId = uuidv7();
  if (rows.storeDefinition) await storeDefinition(tx, definition, pipeline);
  if (rows.key !== undefined) {
    const inserted = await insertPipeline(tx, pipelineId, pipeline, { key: rows.key, traceContext: rows.traceContext ?? null });
    if (inserted.count === 0) {
      const existing = await findKeyedPipeline(tx, pipeline, rows.key);
      // Deleted between the conflict and the read (retention): extremely rare; the caller retries.
      if (!existing) throw new Error(`pipeline ${pipeline} with key ${JSON.stringify(rows.key)} vanished while triggering; retry`);
      return { id: existing, created: false };
    }
  } else {
    await insertPipeline(tx, pipelineId, pipeline, { traceContext: rows.traceContext ?? null });
  }
  const runId = uuidv7();
  const branchId = uuidv7();
  const stepId = uuidv7();
  const startNode = definition.graph.nodes[0]!;
  await Promise.all([
    insertRun(tx, { id: runId, pipelineId, klass: pipeline, sha1: definition.sha1 }),
    insertBranches(tx, [{ id: branchId, runId, pipelineKlass: pipeline, parentBranchId: null, frames: [] }]),
    insertJobs(tx, [{
      pipelineKlass: pipeline, pipelineId, runId, branchId, definitionSha1: definition.sha1, stepId, node: startNode,
      klass: definition.graph.edges[startNode]!.klass, toTransition: 'start', input: rows.input, idempotencyKey: stepId,
      runAt: rows.runAt ?? null, delaySeconds: rows.delaySeconds ?? 0,
    }]),
    notifyWakeup(tx, schema, jobsChannel(pipeline)),
  ]);
  return { id: pipelineId, created: true };
}

/** Stores a definition by its fingerprint and makes it the class's current one (for `trigger_pipeline()` in SQL). */
export async function storeDefinition(sql: Queryable, definition: PipelineDefinition<unknown, unknown>, pipeline: string): Promise<void> {
  const startNode = definition.graph.nodes[0]!;
  await insertDefinition(sql, definition.sha1, definition.graph);
  await registerPipelineClass(sql, pipeline, definition.sha1, startNode, definition.graph.edges[startNode]!.klass);
}
