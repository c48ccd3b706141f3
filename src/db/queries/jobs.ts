/**
 * The queue: one `jobs` row per step waiting to run or running (`run`), or finished and waiting
 * for the advancer (`advance`). Rows are deleted when their work is done, so the table holds only
 * what is pending or in flight, whatever the history. Every write after a claim is fenced by the
 * claim token (and, for a run job, by the step it runs: a chain continues in the same row).
 */
import { idList, rowsJson, type Queryable } from '../connect.js';
import { textList } from '../params.js';
import type { ToTransition } from '../../definition/graph.js';

/** What a job runs and where its result goes: the fields of its step's history row. */
export interface JobStep {
  pipeline_klass: string;
  pipeline_id: string;
  run_id: string;
  /** null only for the on_halt step. */
  branch_id: string | null;
  /** Fingerprint of the run's definition. */
  definition_sha1: string;
  step_id: string;
  node: string;
  klass: string;
  to_transition: ToTransition;
  /** JSON text the step runs with. */
  input: string;
  /** Where the input came from (a step, or for a fan-in the fan-out); null when `input` is the original. */
  input_ref: string | null;
  /** The element of `input_ref`'s output an expand member got. */
  input_idx: number | null;
  idempotency_key: string;
  source_step_id: string | null;
  retry_count: number;
  crash_count: number;
  /** When the step was queued (its history row's `started_at`). */
  created_at: Date;
}

/** A run job claimed by this process. */
export interface ClaimedJob extends JobStep {
  id: string;
  claim_token: string;
  /** Seconds from the job being due to this claim (database clock); 0 for a chain continued in its commit. */
  queue_wait_s?: number;
  /** The pipeline's stored `traceparent`, read only when the claim asked for it (tracing on). */
  trace_context?: string | null;
}

const JOB_STEP_COLUMNS = 'id, claim_token, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition, input, input_ref, input_idx, idempotency_key, source_step_id, retry_count, crash_count, created_at';

/** A run job to insert (a trigger's first step, a fan-out member, a revive's re-run...). */
export interface NewJob {
  pipelineKlass: string;
  pipelineId: string;
  runId: string;
  branchId: string | null;
  definitionSha1: string;
  stepId: string;
  node: string;
  klass: string;
  toTransition: ToTransition;
  /** JSON text; null to copy the output of `inputRef` in SQL (a divide's members). */
  input: string | null;
  inputRef?: string | null;
  inputIdx?: number | null;
  idempotencyKey: string;
  sourceStepId?: string | null;
  /** Due no earlier than this (a trigger's `runAt`); default now. */
  runAt?: Date | null;
  /** Or due this many seconds from now (a trigger's `delay`). */
  delaySeconds?: number;
}

/** Enqueues run jobs, due now by the database clock unless they say later. One statement for any number. */
export function insertJobs(sql: Queryable, jobs: NewJob[]) {
  return sql`
    insert into jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
                      input, input_ref, input_idx, idempotency_key, source_step_id, run_at)
    select 'run', pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
           coalesce(input, (select s.output from steps s where s.id = t.input_ref)), input_ref, input_idx, idempotency_key,
           source_step_id, coalesce(run_at, clock_timestamp() + make_interval(secs => coalesce(delay_s, 0)))
    from jsonb_to_recordset(${rowsJson(sql, jobs.map((j) => ({
      pipeline_klass: j.pipelineKlass, pipeline_id: j.pipelineId, run_id: j.runId, branch_id: j.branchId, definition_sha1: j.definitionSha1,
      step_id: j.stepId, node: j.node, klass: j.klass, to_transition: j.toTransition, input: j.input, input_ref: j.inputRef ?? null,
      input_idx: j.inputIdx ?? null, idempotency_key: j.idempotencyKey, source_step_id: j.sourceStepId ?? null,
      run_at: j.runAt?.toISOString() ?? null, delay_s: j.delaySeconds ?? null,
    })))})
      as t(pipeline_klass text, pipeline_id uuid, run_id uuid, branch_id uuid, definition_sha1 text, step_id uuid, node text, klass text,
           to_transition text, input text, input_ref uuid, input_idx int, idempotency_key uuid, source_step_id uuid, run_at timestamptz,
           delay_s float8)`;
}

/**
 * Claims due run jobs, at most `limit` of each pipeline, in one statement: per pipeline the oldest
 * due first (jobs_due), SKIP LOCKED so claimers never wait for each other. Each claim gets a fresh
 * token that fences its commit.
 *
 * The claimer's process row is KEY SHARE-locked: a claim and the reaping of its owner serialize,
 * so a reaped process can never leave a claim that no process row owns.
 */
export function claimJobs(sql: Queryable, limits: { pipeline: string; limit: number }[], processId: string, traced = false) {
  return sql<ClaimedJob[]>`
    with owner as (
      select id from processes where id = ${processId} for key share
    ), wanted as (
      select * from jsonb_to_recordset(${rowsJson(sql, limits)}) as t(pipeline text, "limit" int)
    ), ready as (
      select j.id from wanted w cross join lateral (
        select id from jobs
        -- (select clock_timestamp()) is computed once, so it bounds the index range; a bare volatile call could
        -- not, and every delayed or parked row would be read on every claim
        where kind = 'run' and claimed_at is null and pipeline_klass = w.pipeline and run_at <= (select clock_timestamp())
        order by run_at
        limit w."limit"
        for update skip locked
      ) j
      where exists (select 1 from owner)
    )
    update jobs j set claimed_at = clock_timestamp(), claim_token = gen_random_uuid(), process_id = ${processId}
    from ready where j.id = ready.id
    returning ${sql.unsafe(JOB_STEP_COLUMNS.split(', ').map((c) => `j.${c}${c === 'id' ? '::text as id' : ''}`).join(', '))},
      extract(epoch from j.claimed_at - j.run_at)::float8 as queue_wait_s,
      case when ${traced} then (select p.trace_context from pipelines p where p.id = j.pipeline_id) end as trace_context`;
}

/** A successful result to record: the claimed job, its output, and the step that continues it. */
export interface Success {
  job: ClaimedJob;
  /** JSON text. */
  output: string;
  /**
   * The step that follows on the same branch (chain or converge), which the same job row runs
   * next, still claimed by the committing process: no advancer pass, no re-claim.
   */
  next?: { id: string; node: string; klass: string; via: 'chain' | 'converge' };
  /** Without `next`: the advancer routes the branch no earlier than this many seconds from now (`after`, `runNextAt`)... */
  delaySeconds?: number;
  /** ...and no earlier than this time (`runNextAt(date)`). */
  notBefore?: Date;
}

/** What {@link commitSuccesses} recorded: committed job ids, and the new claim token of each continued job. */
export interface CommittedSuccesses {
  committed: Set<string>;
  continued: Map<string, string>;
}

/**
 * Records many successes in one statement, each fenced by its claim token and step: a claim that
 * is no longer ours writes nothing. Each writes its step's history row; then its job either runs
 * the next step (an update of no indexed column: it stays on its page), becomes an advance job for
 * the advancer, or (the on_halt step) is deleted. No continuation when the process row is gone.
 */
export async function commitSuccesses(sql: Queryable, results: Success[], processId: string): Promise<CommittedSuccesses> {
  const ids = idList(results.map((r) => r.job.id));
  // Only what the database does not know travels: the history row is built from the job row as it
  // was (`held`, read in the statement's snapshot); every write re-checks the token on the row's
  // latest version, so a claim reaped meanwhile writes nothing.
  const rows = await sql<{ id: string; claim_token: string | null }[]>`
    with input as (
      select * from jsonb_to_recordset(${rowsJson(sql, results.map(({ job, output, next, delaySeconds, notBefore }) => ({
        id: job.id, token: job.claim_token, step_id: job.step_id, output, next_id: next?.id ?? null, next_node: next?.node ?? null,
        next_klass: next?.klass ?? null, next_via: next?.via ?? null, delay_s: delaySeconds || null, not_before: notBefore?.toISOString() ?? null,
      })))}) as t(id bigint, token uuid, step_id uuid, output text, next_id uuid, next_node text, next_klass text, next_via text,
                  delay_s float8, not_before timestamptz)
    ), owner as (
      select id from processes where id = ${processId} for key share
    ), held as materialized (
      select j.id, j.claim_token, j.step_id, j.run_id, j.branch_id, j.node, j.klass, j.to_transition, j.input, j.input_ref, j.input_idx,
             j.idempotency_key, j.source_step_id, j.retry_count, j.crash_count, j.created_at, i.output, i.next_id, i.next_node,
             i.next_klass, i.next_via, i.delay_s, i.not_before, i.next_id is not null and exists (select 1 from owner) as continues
      from jobs j join input i on i.id = j.id and i.token = j.claim_token and i.step_id = j.step_id
      where j.id = any(${ids}::bigint[]) and j.kind = 'run'
    ), continued as (
      update jobs j set step_id = h.next_id, node = h.next_node, klass = h.next_klass, to_transition = h.next_via,
                        input = h.output, input_ref = h.step_id, input_idx = null, idempotency_key = h.next_id,
                        source_step_id = null, retry_count = 0, crash_count = 0, claim_token = gen_random_uuid(),
                        created_at = clock_timestamp()
      from held h
      where j.id = h.id and j.claim_token = h.claim_token and j.step_id = h.step_id and h.continues
      returning j.id, j.claim_token
    ), handed as (
      update jobs j set kind = 'advance', claimed_at = null, claim_token = null, process_id = null, input = null,
                        input_ref = null, input_idx = null, retry_count = 0, crash_count = 0,
                        run_at = case when h.delay_s is null and h.not_before is null then clock_timestamp()
                                      else greatest(clock_timestamp() + make_interval(secs => coalesce(h.delay_s, 0)), h.not_before) end
      from held h
      where j.id = h.id and j.claim_token = h.claim_token and j.step_id = h.step_id and not h.continues and h.branch_id is not null
      returning j.id
    ), ended as (
      delete from jobs j using held h
      where j.id = h.id and j.claim_token = h.claim_token and j.step_id = h.step_id and h.branch_id is null
      returning j.id
    ), done as (
      select id from continued union all select id from handed union all select id from ended
    ), recorded as (
      insert into steps (id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, output,
                         idempotency_key, source_step_id, retry_count, crash_count, process_id, started_at, finished_at)
      select h.step_id, h.run_id, h.branch_id, h.node, h.klass, h.to_transition, 'completed', case when h.input_ref is null then h.input end,
             h.input_ref, h.input_idx, h.output, h.idempotency_key, h.source_step_id, h.retry_count, h.crash_count, ${processId},
             h.created_at, clock_timestamp()
      from held h join done d on d.id = h.id
    )
    select id::text as id, null::uuid as claim_token from handed
    union all select id::text, null from ended
    union all select id::text, claim_token from continued`;
  const out: CommittedSuccesses = { committed: new Set(), continued: new Map() };
  for (const row of rows) {
    out.committed.add(row.id);
    if (row.claim_token) out.continued.set(row.id, row.claim_token);
  }
  return out;
}

/** An error to store with an attempt (already sanitized and cut to size). */
export interface StoredError {
  errorClass: string;
  errorCode: string | null;
  errorMessage: string;
  errorStack: string | null;
}

/** A failed or crashed attempt of a claimed job, and what comes next for its step. */
export interface Failure extends StoredError {
  job: ClaimedJob;
  outcome: 'failure' | 'crashed';
  /** Run the step again after `delayMs`; otherwise it fails for good. */
  again: boolean;
  delayMs: number;
}

/**
 * Records a failure or crash of one claimed job, fenced by its token and step, in one statement:
 * an attempt row, then either the job queued again (error retry: retry_count + 1 after the backoff;
 * crash: crash_count + 1, at once keeping its place in the due order), or the step's history row as
 * failed with its job handed to the advancer (deleted for the on_halt step). False when the claim was lost.
 */
export async function commitFailure(sql: Queryable, failure: Failure, processId: string): Promise<boolean> {
  const { job } = failure;
  const crash = failure.outcome === 'crashed' ? 1 : 0;
  const delayS = failure.delayMs / 1000;
  const [row] = await sql`
    with old as (
      select greatest(claimed_at, created_at) as started_at from jobs where id = ${job.id}
    ), again as (
      update jobs set retry_count = retry_count + ${1 - crash}, crash_count = crash_count + ${crash},
                      run_at = case when ${crash === 1 && delayS === 0} then run_at else clock_timestamp() + make_interval(secs => ${delayS}) end,
                      claimed_at = null, claim_token = null, process_id = null
      where id = ${job.id} and claim_token = ${job.claim_token} and step_id = ${job.step_id} and kind = 'run' and ${failure.again}
      returning id, run_at
    ), handed as (
      update jobs set kind = 'advance', claimed_at = null, claim_token = null, process_id = null, input = null, input_ref = null,
                      input_idx = null, run_at = clock_timestamp(), retry_count = 0, crash_count = 0
      where id = ${job.id} and claim_token = ${job.claim_token} and step_id = ${job.step_id} and kind = 'run' and not ${failure.again}
        and branch_id is not null
      returning id
    ), ended as (
      delete from jobs
      where id = ${job.id} and claim_token = ${job.claim_token} and step_id = ${job.step_id} and kind = 'run' and not ${failure.again}
        and branch_id is null
      returning id
    ), fenced as (
      select id from again union all select id from handed union all select id from ended
    ), attempt as (
      insert into attempts (run_id, step_id, pipeline_klass, node, klass, retry_count, crash_count, outcome, error_class, error_code,
                            error_message, error_stack, process_id, started_at, retry_at)
      select ${job.run_id}, ${job.step_id}, ${job.pipeline_klass}, ${job.node}, ${job.klass}, ${job.retry_count}, ${job.crash_count},
             ${failure.outcome}, ${failure.errorClass}, ${failure.errorCode}, ${failure.errorMessage}, ${failure.errorStack}, ${processId},
             (select started_at from old), (select run_at from again)
      from fenced
    ), failed as (
      insert into steps (id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, idempotency_key,
                         source_step_id, retry_count, crash_count, process_id, started_at, finished_at)
      select ${job.step_id}, ${job.run_id}, ${job.branch_id}, ${job.node}, ${job.klass}, ${job.to_transition}, 'failed',
             ${job.input_ref === null ? job.input : null}, ${job.input_ref}, ${job.input_idx}, ${job.idempotency_key}, ${job.source_step_id},
             ${job.retry_count + 1 - crash}, ${job.crash_count + crash}, ${processId}, ${job.created_at}, clock_timestamp()
      from fenced where not ${failure.again}
    )
    select count(*)::int as fenced from fenced`;
  return (row?.fenced as number) === 1;
}

/** A claim that is still open, with what deciding its re-run needs. */
export interface OpenClaim {
  id: string;
  claim_token: string;
  kind: 'run' | 'advance';
  retry_count: number;
  crash_count: number;
  pipeline_klass: string;
  klass: string;
}

const OPEN_CLAIM_COLUMNS = 'id::text as id, claim_token, kind, retry_count, crash_count, pipeline_klass, klass';

/** Open claims of a process (jobs_claimed). */
export function openClaimsOf(sql: Queryable, processId: string) {
  return sql<OpenClaim[]>`
    select ${sql.unsafe(OPEN_CLAIM_COLUMNS)} from jobs where process_id = ${processId} and claimed_at is not null`;
}

/** Open claims whose owner has no process row, claimed more than `graceSeconds` ago (database clock; jobs_claimed). */
export function orphanedClaims(sql: Queryable, graceSeconds: number) {
  return sql<OpenClaim[]>`
    select ${sql.unsafe(OPEN_CLAIM_COLUMNS)} from jobs j
    where j.claimed_at is not null and j.claimed_at < (select clock_timestamp()) - make_interval(secs => ${graceSeconds})
      and not exists (select 1 from processes p where p.id = j.process_id)`;
}

/** One open claim to end as crashed, and whether (and when) its step runs again. */
export interface Crash {
  id: string;
  token: string;
  again: boolean;
  delayMs: number;
}

/**
 * Ends many open claims as crashed in one statement, each fenced by its token. A run job is queued
 * again (crash_count + 1; at once it keeps its place in the due order) or its step fails for good;
 * an advance job is released for another advancer (its claim already counted against the advancer
 * crash budget). Returns the ids ended here; claims that finished meanwhile are left alone.
 */
export async function crashClaims(sql: Queryable, crashes: Crash[], errorClass: string, errorMessage: string): Promise<string[]> {
  if (crashes.length === 0) return [];
  const ids = idList(crashes.map((c) => c.id));
  const rows = await sql`
    with input as (
      select * from jsonb_to_recordset(${rowsJson(sql, crashes.map((c) => ({ id: c.id, token: c.token, again: c.again, delay_s: c.delayMs / 1000 })))})
        as t(id bigint, token uuid, again boolean, delay_s float8)
    ), old as (
      select j.*, i.again from jobs j join input i on i.id = j.id and i.token = j.claim_token where j.id = any(${ids}::bigint[])
    ), again as (
      update jobs j set crash_count = j.crash_count + 1,
                        run_at = case when i.delay_s = 0 then j.run_at else clock_timestamp() + make_interval(secs => i.delay_s) end,
                        claimed_at = null, claim_token = null, process_id = null
      from input i
      where j.id = i.id and j.id = any(${ids}::bigint[]) and j.claim_token = i.token and j.kind = 'run' and i.again
      returning j.id, j.run_at
    ), handed as (
      update jobs j set kind = 'advance', claimed_at = null, claim_token = null, process_id = null, input = null, input_ref = null,
                        input_idx = null, run_at = clock_timestamp(), retry_count = 0, crash_count = 0
      from input i
      where j.id = i.id and j.id = any(${ids}::bigint[]) and j.claim_token = i.token and j.kind = 'run' and not i.again
        and j.branch_id is not null
      returning j.id
    ), ended as (
      delete from jobs j using input i
      where j.id = i.id and j.id = any(${ids}::bigint[]) and j.claim_token = i.token and j.kind = 'run' and not i.again
        and j.branch_id is null
      returning j.id
    ), released as (
      update jobs j set claimed_at = null, claim_token = null, process_id = null
      from input i
      where j.id = i.id and j.id = any(${ids}::bigint[]) and j.claim_token = i.token and j.kind in ('advance', 'wait')
      returning j.id
    ), crashed as (
      select id, run_at from again union all select id, null::timestamptz from handed union all select id, null::timestamptz from ended
    ), attempt as (
      insert into attempts (run_id, step_id, pipeline_klass, node, klass, retry_count, crash_count, outcome, error_class,
                            error_message, process_id, started_at, retry_at)
      select o.run_id, o.step_id, o.pipeline_klass, o.node, o.klass, o.retry_count, o.crash_count, 'crashed', ${errorClass},
             ${errorMessage}, o.process_id, greatest(o.claimed_at, o.created_at), c.run_at
      from old o join crashed c on c.id = o.id
    ), failed as (
      insert into steps (id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, idempotency_key,
                         source_step_id, retry_count, crash_count, process_id, started_at, finished_at)
      select o.step_id, o.run_id, o.branch_id, o.node, o.klass, o.to_transition, 'failed', case when o.input_ref is null then o.input end,
             o.input_ref, o.input_idx, o.idempotency_key, o.source_step_id, o.retry_count, o.crash_count + 1, o.process_id, o.created_at, clock_timestamp()
      from old o where not o.again and o.kind = 'run' and o.id in (select id from handed union all select id from ended)
    )
    select id::text as id from crashed union all select id::text from released`;
  return rows.map((r) => r.id as string);
}

/** An advance job claimed by an advancer, with what routing its branch needs. */
export interface ClaimedAdvance {
  id: string;
  claim_token: string;
  /** `advance`: a finished step to route; `wait`: a branch waiting for `event`, woken by a signal or its timeout. */
  kind: 'advance' | 'wait';
  /** A wait's timeout (null: none) and whether it has passed (database clock, at the claim). */
  wait_until: Date | null;
  timed_out: boolean;
  pipeline_klass: string;
  pipeline_id: string;
  run_id: string;
  branch_id: string;
  definition_sha1: string;
  step_id: string;
  node: string;
  klass: string;
  idempotency_key: string;
  /** Routing errors so far. */
  retry_count: number;
  /** Claims so far that did not finish (this one included). */
  crash_count: number;
  step_status: 'completed' | 'failed';
  frames: { f: string; i: number }[];
  /** For a failed step: how its last attempt ended, and its error (`Class: message`, cut short). */
  last_outcome: 'failure' | 'crashed' | null;
  last_error: string | null;
  /** The pipeline's stored `traceparent`, read only when the claim asked for it (tracing on). */
  trace_context?: string | null;
}

/**
 * Claims up to `limit` due advance jobs of `pipelines` for routing (jobs_advance), in their own
 * committed statement: each claim counts against the advancer crash budget until its routing
 * commits, so an advancement that dies, times out or cannot be written is counted, and a branch
 * that keeps failing that way halts.
 */
export function claimAdvances(sql: Queryable, pipelines: readonly string[], limit: number, processId: string, traced = false) {
  return sql<ClaimedAdvance[]>`
    with owner as (
      select id from processes where id = ${processId} for key share
    ), ready as (
      select id from jobs
      -- jobs_advance, bounded by the due time (see claimJobs): parked waits (due 'infinity') are never read
      where kind in ('advance', 'wait') and claimed_at is null and run_at <= (select clock_timestamp()) and pipeline_klass = any(${textList(pipelines)}::text[])
        and exists (select 1 from owner)
      order by run_at
      limit ${limit}
      for update skip locked
    ), claimed as (
      update jobs j set claimed_at = clock_timestamp(), claim_token = gen_random_uuid(), process_id = ${processId},
                        crash_count = j.crash_count + 1
      from ready where j.id = ready.id
      returning j.*
    )
    select c.id::text as id, c.claim_token, c.kind, c.wait_until, coalesce(c.wait_until <= clock_timestamp(), false) as timed_out, c.pipeline_klass, c.pipeline_id, c.run_id, c.branch_id, c.definition_sha1, c.step_id,
           c.node, c.klass, c.idempotency_key, c.retry_count, c.crash_count, s.status as step_status, b.frames,
           a.outcome as last_outcome, left(a.error_class || ': ' || a.error_message, 500) as last_error,
           case when ${traced} then (select p.trace_context from pipelines p where p.id = c.pipeline_id) end as trace_context
    from claimed c join steps s on s.id = c.step_id join branches b on b.id = c.branch_id
    left join lateral (
      select outcome, error_class, error_message from attempts where step_id = c.step_id and s.status = 'failed' order by id desc limit 1
    ) a on true`;
}

/**
 * Inside a routing transaction: locks the advance jobs still claimed with these tokens (the rest
 * were reaped or released meanwhile) and returns their ids.
 */
export async function lockAdvances(sql: Queryable, claims: { id: string; claim_token: string }[]): Promise<Set<string>> {
  const rows = await sql`
    select j.id::text as id from jobs j
    join jsonb_to_recordset(${rowsJson(sql, claims.map((c) => ({ id: c.id, token: c.claim_token })))}) as t(id bigint, token uuid)
      on t.id = j.id and t.token = j.claim_token
    where j.id = any(${idList(claims.map((c) => c.id))}::bigint[]) and j.kind in ('advance', 'wait')
    for update of j`;
  return new Set(rows.map((r) => r.id as string));
}

/** Releases advance claims (after a routing transaction that failed), fenced by token. */
export function releaseAdvances(sql: Queryable, claims: { id: string; claim_token: string }[]) {
  return sql`
    update jobs j set claimed_at = null, claim_token = null, process_id = null
    from jsonb_to_recordset(${rowsJson(sql, claims.map((c) => ({ id: c.id, token: c.claim_token })))}) as t(id bigint, token uuid)
    where j.id = t.id and j.id = any(${idList(claims.map((c) => c.id))}::bigint[]) and j.claim_token = t.token and j.kind in ('advance', 'wait')`;
}

/** Routed: the advance jobs whose branches moved on without a next step here. */
export function deleteJobs(sql: Queryable, ids: string[]) {
  return sql`delete from jobs where id = any(${idList(ids)}::bigint[])`;
}

/** A branch that continues at `next` (chain, converge or divert routed by the advancer): its advance job runs it. */
export interface ContinuedJob {
  jobId: string;
  /** The finished step whose output is the next step's input. */
  fromStepId: string;
  next: { id: string; node: string; klass: string; via: ToTransition };
}

/** Turns advance jobs back into run jobs of their branches' next steps, inputs copied in SQL. */
export function continueJobs(sql: Queryable, moves: ContinuedJob[]) {
  return sql`
    update jobs j set kind = 'run', step_id = t.next_id, node = t.node, klass = t.klass, to_transition = t.via, input = s.output,
                      input_ref = s.id, input_idx = null, idempotency_key = t.next_id, source_step_id = null, run_at = clock_timestamp(),
                      retry_count = 0, crash_count = 0, claimed_at = null, claim_token = null, process_id = null,
                      created_at = clock_timestamp(), last_error = null, event = null, wait_until = null
    from jsonb_to_recordset(${rowsJson(sql, moves.map((m) => ({ id: m.jobId, from_step: m.fromStepId, next_id: m.next.id, node: m.next.node, klass: m.next.klass, via: m.next.via })))})
      as t(id bigint, from_step uuid, next_id uuid, node text, klass text, via text)
    join steps s on s.id = t.from_step
    where j.id = t.id and j.id = any(${idList(moves.map((m) => m.jobId))}::bigint[])`;
}

/** Records a routing error on an advance job and releases it until `delayMs` from now (database clock). */
export function deferAdvance(sql: Queryable, claim: { id: string; claim_token: string }, delayMs: number, detail: string) {
  return sql`
    update jobs set retry_count = retry_count + 1, run_at = clock_timestamp() + make_interval(secs => ${delayMs / 1000}),
                    last_error = ${detail}, claimed_at = null, claim_token = null, process_id = null
    where id = ${claim.id} and claim_token = ${claim.claim_token} and kind in ('advance', 'wait')`;
}

/** A finished step whose branch the advancer must route (again): a revive of a branch halted while routing. */
export interface NewAdvance {
  pipelineKlass: string;
  pipelineId: string;
  runId: string;
  branchId: string;
  definitionSha1: string;
  stepId: string;
  node: string;
  klass: string;
  toTransition: ToTransition;
  idempotencyKey: string;
}

/** Enqueues advance jobs, due now. */
export function insertAdvances(sql: Queryable, advances: NewAdvance[]) {
  return sql`
    insert into jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
                      idempotency_key, run_at)
    select 'advance', pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
           idempotency_key, clock_timestamp()
    from jsonb_to_recordset(${rowsJson(sql, advances.map((a) => ({
      pipeline_klass: a.pipelineKlass, pipeline_id: a.pipelineId, run_id: a.runId, branch_id: a.branchId, definition_sha1: a.definitionSha1,
      step_id: a.stepId, node: a.node, klass: a.klass, to_transition: a.toTransition, idempotency_key: a.idempotencyKey,
    })))})
      as t(pipeline_klass text, pipeline_id uuid, run_id uuid, branch_id uuid, definition_sha1 text, step_id uuid, node text, klass text,
           to_transition text, idempotency_key uuid)`;
}

/**
 * A branch arrives at a wait with no signal pending: its advance job becomes a `wait` job for
 * `event`, due at its timeout (`'infinity'` without one), claim released. A wait job woken without
 * a signal for it (the signal went to another branch) is parked again with its deadline.
 */
export function parkWait(sql: Queryable, claim: { id: string; claim_token: string }, event: string, timeoutSeconds: number | null) {
  return sql`
    update jobs j set kind = 'wait', event = ${event}, wait_until = d.until, run_at = coalesce(d.until, 'infinity'),
                      claimed_at = null, claim_token = null, process_id = null, retry_count = 0, crash_count = 0, last_error = null
    from (
      select id, case when kind = 'wait' then wait_until
                      when ${timeoutSeconds}::float8 is not null then clock_timestamp() + make_interval(secs => ${timeoutSeconds}::float8) end as until
      from jobs where id = ${claim.id}
    ) d
    where j.id = d.id and j.claim_token = ${claim.claim_token}`;
}

/**
 * A signal reached a waiting branch: its job runs `next` with the signal's payload as input (due
 * `delaySeconds` from now: the transition's `after`).
 */
export function deliverWait(sql: Queryable, jobId: string, next: { id: string; node: string; klass: string }, payload: string, delaySeconds: number) {
  return sql`
    update jobs set kind = 'run', step_id = ${next.id}, node = ${next.node}, klass = ${next.klass}, to_transition = 'wait',
                    input = ${payload}, input_ref = null, input_idx = null, idempotency_key = ${next.id}, source_step_id = null,
                    run_at = clock_timestamp() + make_interval(secs => ${delaySeconds}::float8), retry_count = 0, crash_count = 0,
                    claimed_at = null, claim_token = null, process_id = null, created_at = clock_timestamp(), last_error = null,
                    event = null, wait_until = null
    where id = ${jobId}`;
}

/**
 * Makes the unclaimed waits of a pipeline for `event` due now, so an advancer delivers the signal
 * just stored (jobs_waiting). Skips a wait an advancer is routing: it reads the signal under the
 * same lock. Returns how many it woke.
 */
export async function wakeWaits(sql: Queryable, pipelineId: string, event: string): Promise<number> {
  const rows = await sql`
    update jobs set run_at = clock_timestamp()
    where id in (
      select id from jobs where pipeline_id = ${pipelineId} and kind = 'wait' and event = ${event} and claimed_at is null
      for update skip locked
    )
    returning id`;
  return rows.length;
}

/**
 * Parks every job of a cancelled run: never due ('infinity'), claims cleared so a running step's
 * commit is fenced out. Returns the claims that were open (the steps to abort).
 */
export function parkRunJobs(sql: Queryable, runId: string) {
  return sql<{ claim_token: string; process_id: string; kind: string }[]>`
    with open as (
      select id, claim_token, process_id, kind from jobs where run_id = ${runId} for update
    ), parked as (
      update jobs j set run_at = 'infinity', claimed_at = null, claim_token = null, process_id = null
      from open o where j.id = o.id
      returning j.id
    )
    select o.claim_token, o.process_id, o.kind from open o join parked p on p.id = o.id where o.claim_token is not null`;
}

/** A revive of a cancelled run: its parked jobs are due now (a wait is re-checked for signals and its timeout; jobs_run). */
export function unparkRunJobs(sql: Queryable, runId: string) {
  // A wait for a child stays parked: the child's end (its own revive) releases it.
  return sql`update jobs set run_at = clock_timestamp() where run_id = ${runId} and not (kind = 'wait' and event like 'child:%')`;
}

/**
 * What a run's branches wait for (jobs_run): an `event` (a wait job), the `start` of a delayed
 * trigger, a step's `retry` after its backoff (or its re-run after a crash), or a `delay` (an
 * `after` or `runNextAt`, on an advance job, or on the step a delivered signal runs next).
 */
export interface WaitingRow {
  branch_id: string | null;
  node: string;
  klass: string;
  kind: 'event' | 'start' | 'retry' | 'delay';
  /** A `delay` that holds back the step named (after a delivered signal), not one that follows it. */
  before_step: boolean;
  event: string | null;
  until: Date | null;
}

export function waitingOfRun(sql: Queryable, runId: string) {
  return sql<WaitingRow[]>`
    select branch_id, node, klass, event,
           case when kind = 'wait' then 'event'
                when kind = 'run' and (retry_count > 0 or crash_count > 0) then 'retry'
                when kind = 'run' and to_transition = 'start' then 'start'
                else 'delay' end as kind,
           kind = 'run' as before_step,
           case when kind = 'wait' then wait_until else run_at end as until
    from jobs
    where run_id = ${runId} and claimed_at is null and (kind = 'wait' or run_at > clock_timestamp())
    order by id`;
}
