/**
 * The client's read API: pipelines listed by class, status and time; a pipeline's runs; a run's
 * branches and steps with inputs, outputs, attempts, errors and timings. Every list is paged
 * (`limit`, `offset`) and tells the offset of the next page. {@link DuctworkClient} exposes these
 * as `listPipelines`, `runs`, `branches` and `steps`; the dashboard shows the same data through them.
 */
import type { Queryable } from '../db/connect.js';
import { branchesPage, executionsOfSteps, listPipelines, runsOfPipeline, type ExecutionViewRow } from '../db/queries/pipeline-reads.js';
import type { HaltReason } from '../db/queries/branches.js';
import type { PipelineStatus } from '../db/queries/pipelines.js';
import { fullStepsPage } from '../db/queries/run-reads.js';
import type { StepStatus } from '../db/queries/steps.js';
import { latestRun } from '../db/queries/runs.js';
import type { ToTransition } from '../definition/graph.js';
import { durationSeconds, type Duration } from '../duration.js';
import { ClientError } from '../errors.js';
import { pipelineNameOf, type PipelineClass } from './pipeline.js';

/** Which page of a list: at most `limit` items (default 50, at most 500) after skipping `offset`. */
export interface PageOptions {
  limit?: number;
  offset?: number;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  /** The `offset` of the next page; undefined on the last page. */
  next: number | undefined;
}

/** What {@link DuctworkClient.listPipelines} filters on; every field is optional. */
export interface PipelineQuery extends PageOptions {
  /** A pipeline class, or its name. */
  pipeline?: Pick<PipelineClass, 'name' | 'pipelineName'> | string;
  status?: PipelineStatus;
  /** Created at or after this time. */
  since?: Date;
  /** Created before this time. */
  until?: Date;
  /** Created within this long before now, by the database clock (seconds, or `"1h"`, `"7d"`...). */
  within?: Duration;
  /** Ids starting with these hex digits (dashes ignored), as logs print a short id. */
  idPrefix?: string;
}

/** One pipeline in a list. */
export interface PipelineSummary {
  id: string;
  /** The pipeline class's name. */
  pipeline: string;
  status: PipelineStatus;
  createdAt: Date;
  /** When its status last changed (its end, once completed or halted). */
  updatedAt: Date;
}

/** One run of a pipeline: the first, and one more per revive or branch retry. */
export interface RunSummary {
  id: string;
  status: PipelineStatus;
  /** Fingerprint of the definition the run follows. */
  definitionSha1: string;
  triggeredAt: Date;
  startedAt: Date;
  completedAt: Date | null;
  haltedAt: Date | null;
}

/** Which run of a pipeline to read: its latest unless `runId` names another. */
export interface RunSelector {
  runId?: string;
}

/** One branch of a run: the first, or one made by a fan-out. */
export interface BranchInfo {
  id: string;
  parentBranchId: string | null;
  status: 'in_progress' | 'completed' | 'halted';
  haltReason: HaltReason | null;
  haltDetail: string | null;
  startedAt: Date;
  completedAt: Date | null;
  /** Steps of the branch so far, in every status. */
  steps: number;
}

/** An error a step attempt ended with. Messages are cut at 2,000 characters. */
export interface StepErrorInfo {
  /** The error's class (`Error`, `TypeError`, `StepTimeoutError`, `ThreadCrash`, `ProcessCrash`...). */
  class: string;
  /** Its `code` when it had one (`step_timeout`, a DuctworkError's code, an application's own). */
  code: string | null;
  message: string;
}

/** One attempt of a step, oldest first. */
export interface StepAttempt {
  /** success, failure (the code threw), crashed (infrastructure), running (claimed now) or queued. */
  outcome: 'success' | 'failure' | 'crashed' | 'running' | 'queued';
  /** Error retries and crash re-runs before this attempt. */
  retryCount: number;
  crashCount: number;
  /** When it became due, was claimed and finished (null while not yet). */
  dueAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The engine process that ran it, where known. */
  processId: string | null;
  error: StepErrorInfo | null;
}

/** What {@link DuctworkClient.steps} filters on. */
export interface StepQuery extends RunSelector, PageOptions {
  branchId?: string;
  /** A node of the definition (`LoadUserData.2`). */
  node?: string;
  status?: StepStatus;
}

/** One step of a run, with its data and every attempt. */
export interface StepInfo {
  id: string;
  runId: string;
  branchId: string | null;
  node: string;
  /** The step class's name. */
  step: string;
  /** How the step was reached (start, chain, expand, combine...). */
  transition: ToTransition;
  status: StepStatus;
  /** Parsed JSON. */
  input: unknown;
  /** Parsed JSON once completed, else undefined. */
  output: unknown;
  idempotencyKey: string;
  /** The step of an earlier run this one was carried over from (revive). */
  copiedFrom: string | null;
  retryCount: number;
  crashCount: number;
  /** When the step was queued, and when it finished. */
  startedAt: Date;
  finishedAt: Date | null;
  attempts: StepAttempt[];
  /** The error of its last failed or crashed attempt, if any. */
  lastError: StepErrorInfo | null;
}

const MAX_LIMIT = 500;

function pageOf(options: PageOptions): { offset: number; limit: number } {
  const limit = options.limit ?? 50;
  const offset = options.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ClientError('read_invalid', `limit must be an integer from 1 to ${MAX_LIMIT} (got ${String(limit)}).`, { details: { limit } });
  }
  if (!Number.isInteger(offset) || offset < 0) throw new ClientError('read_invalid', `offset must be an integer from 0 (got ${String(offset)}).`, { details: { offset } });
  return { offset, limit };
}

/** Fetches one item more than the page holds, to know whether another page follows. */
async function paged<R, T>(options: PageOptions, read: (page: { offset: number; limit: number }) => Promise<readonly R[]>, map: (row: R) => T): Promise<Page<T>> {
  const page = pageOf(options);
  const rows = await read({ offset: page.offset, limit: page.limit + 1 });
  return { items: rows.slice(0, page.limit).map(map), next: rows.length > page.limit ? page.offset + page.limit : undefined };
}

function assertUuid(value: string, what: string): void {
  if (typeof value !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new ClientError(what === 'pipeline id' ? 'pipeline_not_found' : 'read_invalid', `"${String(value)}" is not a ${what} (expected a UUID).`, { details: { [what]: value } });
  }
}

function idRange(prefix: string): { from: string; to: string } {
  const hex = prefix.trim().toLowerCase().replaceAll('-', '');
  if (!/^[0-9a-f]{1,32}$/.test(hex)) throw new ClientError('read_invalid', `idPrefix "${prefix}" must be hex digits (dashes allowed).`, { details: { idPrefix: prefix } });
  const format = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { from: format(hex.padEnd(32, '0')), to: format(hex.padEnd(32, 'f')) };
}

/** Pipelines newest first, filtered (pipelines_klass_created, pipelines_status_created, pipelines_created). */
export async function readPipelines(sql: Queryable, query: PipelineQuery = {}): Promise<Page<PipelineSummary>> {
  const klass = query.pipeline === undefined ? undefined : typeof query.pipeline === 'string' ? query.pipeline : pipelineNameOf(query.pipeline);
  const filter = {
    klass, status: query.status, from: query.since, to: query.until,
    sinceSeconds: query.within === undefined ? undefined : durationSeconds(query.within, 'within'),
    idRange: query.idPrefix === undefined ? undefined : idRange(query.idPrefix),
  };
  return paged(query, (page) => listPipelines(sql, filter, page), (r) => ({ id: r.id, pipeline: r.klass, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at }));
}

/** A pipeline's runs, newest first. */
export async function readRuns(sql: Queryable, pipelineId: string, options: PageOptions = {}): Promise<Page<RunSummary>> {
  assertUuid(pipelineId, 'pipeline id');
  return paged(options, (page) => runsOfPipeline(sql, pipelineId, page), (r) => ({
    id: r.id, status: r.status, definitionSha1: r.definition_sha1, triggeredAt: r.triggered_at, startedAt: r.started_at, completedAt: r.completed_at,
    haltedAt: r.halted_at,
  }));
}

/** The run a selector names, checked to belong to the pipeline. */
async function runOf(sql: Queryable, pipelineId: string, selector: RunSelector): Promise<string> {
  assertUuid(pipelineId, 'pipeline id');
  if (selector.runId === undefined) {
    const run = await latestRun(sql, pipelineId);
    if (!run) throw new ClientError('pipeline_not_found', `No pipeline with id ${pipelineId}.`, { details: { id: pipelineId } });
    return run.id;
  }
  assertUuid(selector.runId, 'run id');
  const [row] = await sql`select 1 from runs where id = ${selector.runId} and pipeline_id = ${pipelineId}`;
  if (!row) throw new ClientError('pipeline_not_found', `Run ${selector.runId} is not a run of pipeline ${pipelineId}.`, { details: { id: pipelineId, runId: selector.runId } });
  return selector.runId;
}

/** A run's branches, halted ones first, then in creation order. */
export async function readBranches(sql: Queryable, pipelineId: string, options: RunSelector & PageOptions = {}): Promise<Page<BranchInfo>> {
  const runId = await runOf(sql, pipelineId, options);
  return paged(options, (page) => branchesPage(sql, runId, page), (b) => ({
    id: b.id, parentBranchId: b.parent_branch_id, status: b.status, haltReason: b.halt_reason, haltDetail: b.halt_detail, startedAt: b.started_at,
    completedAt: b.completed_at, steps: b.steps,
  }));
}

function attemptOf(e: ExecutionViewRow): StepAttempt {
  return {
    outcome: e.outcome ?? (e.claimed_at ? 'running' : 'queued'),
    retryCount: e.retry_count, crashCount: e.crash_count, dueAt: e.run_at, startedAt: e.claimed_at, finishedAt: e.completed_at, processId: e.process_id,
    error: e.outcome === 'failure' || e.outcome === 'crashed' ? { class: e.error_class ?? 'Error', code: e.error_code, message: e.error_message ?? '' } : null,
  };
}

/** A run's steps in creation order, each with its whole input and output and every attempt. */
export async function readSteps(sql: Queryable, pipelineId: string, query: StepQuery = {}): Promise<Page<StepInfo>> {
  const runId = await runOf(sql, pipelineId, query);
  if (query.branchId !== undefined) assertUuid(query.branchId, 'branch id');
  const page = await paged(query, (p) => fullStepsPage(sql, runId, { node: query.node, status: query.status, branchId: query.branchId }, p), (s) => s);
  const executions = await executionsOfSteps(sql, page.items.map((s) => s.id));
  const byStep = new Map<string, StepAttempt[]>();
  for (const e of executions) byStep.set(e.step_id, [...(byStep.get(e.step_id) ?? []), attemptOf(e)]);
  return {
    next: page.next,
    items: page.items.map((s) => {
      const attempts = byStep.get(s.id) ?? [];
      const failed = attempts.filter((a) => a.error);
      return {
        id: s.id, runId, branchId: s.branch_id, node: s.node, step: s.klass, transition: s.to_transition, status: s.status, input: JSON.parse(s.input),
        output: s.output === null ? undefined : JSON.parse(s.output), idempotencyKey: s.idempotency_key, copiedFrom: s.source_step_id,
        retryCount: s.retry_count, crashCount: s.crash_count, startedAt: s.started_at, finishedAt: s.finished_at, attempts,
        lastError: failed.at(-1)?.error ?? null,
      };
    }),
  };
}
