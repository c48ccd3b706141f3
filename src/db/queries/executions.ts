import { idList, rowsJson, type Queryable } from '../connect.js';

/** A job claimed by this process: everything a worker thread needs to run the step. */
export interface ClaimedExecution {
  id: string;
  claim_token: string;
  retry_count: number;
  crash_count: number;
  step_id: string;
  run_id: string;
  pipeline_id: string;
  klass: string;
  node: string;
  input: string;
  idempotency_key: string;
  /** null only for the on_halt step. */
  branch_id: string | null;
  /** Fingerprint of the run's frozen definition. */
  definition_sha1: string;
}

/**
 * Claims up to `limit` due executions of `pipeline` in one statement: SKIP LOCKED picks rows
 * nobody else is claiming. Each claim gets a fresh token that fences its commit. Uses
 * `executions_ready`.
 *
 * The UPDATE finds its rows by primary key only. It need not re-state the predicate: FOR UPDATE
 * re-checks it on each row's latest version as it locks the row, and the lock holds until the
 * statement commits. Re-stating it let the planner drive the UPDATE from `executions_ready`
 * (estimated at one row while a new queue fills faster than statistics follow) and compare every
 * ready row with every claimed one: 50 ms per claim behind a 10k-element expand.
 *
 * The claimer's process row is KEY SHARE-locked: a claim and the reaping of its owner serialize,
 * so a reaped process can never leave a claim that no process row owns.
 */
export function claimExecutions(sql: Queryable, pipeline: string, limit: number, processId: string) {
  return sql<ClaimedExecution[]>`
    with owner as (
      select id from processes where id = ${processId} for key share
    ), ready as (
      select id from executions
      where pipeline_klass = ${pipeline} and claimed_at is null and run_at <= clock_timestamp()
        and exists (select 1 from owner)
      order by run_at
      limit ${limit}
      for update skip locked
    )
    update executions e
    set claimed_at = clock_timestamp(), claim_token = gen_random_uuid(), process_id = ${processId}
    from ready, steps s, runs r
    where e.id = ready.id and s.id = e.step_id and r.id = s.run_id
    returning e.id::text as id, e.claim_token, e.retry_count, e.crash_count, s.id as step_id, s.run_id,
              r.pipeline_id, s.klass, s.node, s.input, s.idempotency_key, s.branch_id, r.definition_sha1`;
}

/** A successful result to record: the claim it belongs to and the output JSON text. */
export interface Success {
  id: string;
  token: string;
  output: string;
  /**
   * The step that follows on the same branch (a chain or converge edge), created in the same
   * statement and claimed by the committing process, so a chain needs no advancer pass and no
   * re-claim. Its input is `output`.
   */
  next?: { id: string; node: string; klass: string; via: 'chain' | 'converge' };
}

/** What {@link commitSuccesses} recorded: committed claim ids, and the claims of continued steps by step id. */
export interface CommittedSuccesses {
  committed: Set<string>;
  continued: Map<string, { id: string; claim_token: string }>;
}

/**
 * Records many successes in one statement, each fenced by its claim token: a claim that is no
 * longer ours (reaped, already committed) writes nothing, and neither does its continuation.
 * A success with `next` completes its step and creates the next step together with its first
 * execution, claimed by `processId`; without `next` (or when the process row is gone, so no
 * claim may be owned by it) the step waits for the advancer as `advancing`.
 *
 * The process row is KEY SHARE-locked as in {@link claimExecutions}: the continuation's claim and
 * the reaping of its owner serialize. Continued steps need no branch update: a branch whose step
 * is running has `advance_errors = 0` (every move that leaves it running resets it).
 */
export async function commitSuccesses(sql: Queryable, results: Success[], processId: string): Promise<CommittedSuccesses> {
  const rows = await sql<{ kind: 'done' | 'claimed'; id: string; step_id: string | null; claim_token: string | null }[]>`
    with input as (
      select * from jsonb_to_recordset(${rowsJson(sql, results.map((r) => ({
        id: r.id, token: r.token, output: r.output, next_id: r.next?.id ?? null, next_node: r.next?.node ?? null,
        next_klass: r.next?.klass ?? null, next_via: r.next?.via ?? null,
      })))}) as t(id bigint, token uuid, output text, next_id uuid, next_node text, next_klass text, next_via text)
    ), owner as (
      select id from processes where id = ${processId} for key share
    ), done as (
      update executions e set completed_at = clock_timestamp(), outcome = 'success'
      from input
      where e.id = input.id and e.id = any(${idList(results.map((r) => r.id))}::bigint[])
        and e.claim_token = input.token and e.completed_at is null
      returning e.id, e.step_id, input.output, input.next_id, input.next_node, input.next_klass, input.next_via,
                input.next_id is not null and exists (select 1 from owner) as continues
    ), moved as (
      update steps s
      set status = case when s.branch_id is null or done.continues then 'completed' else 'advancing' end,
          output = done.output, finished_at = clock_timestamp(),
          completed_at = case when s.branch_id is null or done.continues then clock_timestamp() end,
          updated_at = clock_timestamp()
      from done
      where s.id = done.step_id and s.status = 'in_progress'
      returning s.run_id, s.branch_id, s.pipeline_klass, done.continues, done.output, done.next_id, done.next_node, done.next_klass, done.next_via
    ), created as (
      insert into steps (id, run_id, branch_id, pipeline_klass, node, klass, to_transition, status, input, idempotency_key, started_at)
      select next_id, run_id, branch_id, pipeline_klass, next_node, next_klass, next_via, 'in_progress', output, next_id, clock_timestamp()
      from moved where continues and branch_id is not null
      returning id, pipeline_klass
    ), claimed as (
      insert into executions (step_id, pipeline_klass, run_at, claimed_at, claim_token, process_id)
      select id, pipeline_klass, clock_timestamp(), clock_timestamp(), gen_random_uuid(), ${processId} from created
      returning id, step_id, claim_token
    )
    select 'done' as kind, id::text as id, null::uuid as step_id, null::uuid as claim_token from done
    union all
    select 'claimed', id::text, step_id, claim_token from claimed`;
  const out: CommittedSuccesses = { committed: new Set(), continued: new Map() };
  for (const row of rows) {
    if (row.kind === 'done') out.committed.add(row.id);
    else out.continued.set(row.step_id!, { id: row.id, claim_token: row.claim_token! });
  }
  return out;
}

/** A failed or crashed execution to record, and what comes next for its step. */
export interface Failure {
  id: string;
  token: string;
  outcome: 'failure' | 'crashed';
  errorClass: string;
  errorCode: string | null;
  errorMessage: string;
  errorStack: string | null;
  /** Enqueue another execution after `delayMs`; otherwise the step fails for good. */
  again: boolean;
  delayMs: number;
}

/**
 * Records a failure or crash, fenced by the claim token, and in the same statement either
 * enqueues the next execution (error retry: retry_count + 1; crash: crash_count + 1; the other
 * budget carries over) or marks the step failed. Returns false when the claim was lost.
 */
export async function commitFailure(sql: Queryable, failure: Failure): Promise<boolean> {
  const crash = failure.outcome === 'crashed' ? 1 : 0;
  const [row] = await sql`
    with failed as (
      update executions set completed_at = clock_timestamp(), outcome = ${failure.outcome},
        error_class = ${failure.errorClass}, error_code = ${failure.errorCode},
        error_message = ${failure.errorMessage}, error_stack = ${failure.errorStack}
      where id = ${failure.id} and claim_token = ${failure.token} and completed_at is null
      returning step_id, pipeline_klass, retry_count, crash_count
    ), again as (
      insert into executions (step_id, pipeline_klass, run_at, retry_count, crash_count)
      select step_id, pipeline_klass, clock_timestamp() + make_interval(secs => ${failure.delayMs / 1000}),
             retry_count + ${1 - crash}, crash_count + ${crash}
      from failed where ${failure.again}
      returning id
    ), gave_up as (
      update steps s set status = 'failed', finished_at = clock_timestamp(),
                         completed_at = case when s.branch_id is null then clock_timestamp() end,
                         updated_at = clock_timestamp()
      from failed where s.id = failed.step_id and not ${failure.again} and s.status = 'in_progress'
      returning s.id
    )
    select count(*)::int as fenced from failed`;
  return (row?.fenced as number) === 1;
}

export interface ExecutionRow {
  id: string;
  step_id: string;
  retry_count: number;
  crash_count: number;
  claimed_at: Date | null;
  completed_at: Date | null;
  outcome: 'success' | 'failure' | 'crashed' | null;
  error_class: string | null;
  error_code: string | null;
  error_message: string | null;
  process_id: string | null;
  run_at: Date;
}

/** Every execution of a step, oldest first. */
export function executionsOfStep(sql: Queryable, stepId: string) {
  return sql<ExecutionRow[]>`
    select id::text as id, step_id, retry_count, crash_count, claimed_at, completed_at, outcome, error_class,
           error_code, error_message, process_id, run_at
    from executions where step_id = ${stepId} order by id`;
}

/** A claim that is still open (claimed, not finished), with what deciding its re-run needs. */
export interface OpenClaim {
  id: string;
  claim_token: string;
  retry_count: number;
  crash_count: number;
  pipeline_klass: string;
  klass: string;
}

/** Open claims of a process (optionally one pipeline). Uses `executions_in_flight`. */
export function openClaimsOf(sql: Queryable, processId: string, pipeline?: string) {
  return sql<OpenClaim[]>`
    select e.id::text as id, e.claim_token, e.retry_count, e.crash_count, e.pipeline_klass, s.klass
    from executions e join steps s on s.id = e.step_id
    where e.process_id = ${processId} and e.claimed_at is not null and e.completed_at is null
      ${pipeline === undefined ? sql`` : sql`and e.pipeline_klass = ${pipeline}`}`;
}

/** Open claims whose owner has no process row, claimed more than `graceSeconds` ago (database clock). */
export function orphanedClaims(sql: Queryable, graceSeconds: number) {
  return sql<OpenClaim[]>`
    select e.id::text as id, e.claim_token, e.retry_count, e.crash_count, e.pipeline_klass, s.klass
    from executions e join steps s on s.id = e.step_id
    where e.claimed_at is not null and e.completed_at is null
      and e.claimed_at < clock_timestamp() - make_interval(secs => ${graceSeconds})
      and not exists (select 1 from processes p where p.id = e.process_id)`;
}

/** One open claim to end as crashed, and whether (and when) its step runs again. */
export interface Crash {
  id: string;
  token: string;
  again: boolean;
  delayMs: number;
}

/**
 * Ends many open claims as crashed in one statement, each fenced by its token, and either
 * enqueues the next execution (crash_count + 1, retry_count kept: a crash never uses a retry) or
 * fails the step. Returns the ids ended here; claims that finished meanwhile are left alone.
 */
export async function crashClaims(sql: Queryable, crashes: Crash[], errorClass: string, errorMessage: string): Promise<string[]> {
  if (crashes.length === 0) return [];
  const rows = await sql`
    with input as (
      select * from jsonb_to_recordset(${rowsJson(sql, crashes.map((c) => ({ id: c.id, token: c.token, again: c.again, delay_s: c.delayMs / 1000 })))})
        as t(id bigint, token uuid, again boolean, delay_s float8)
    ), crashed as (
      update executions e set completed_at = clock_timestamp(), outcome = 'crashed',
                              error_class = ${errorClass}, error_message = ${errorMessage}
      from input
      where e.id = input.id and e.id = any(${idList(crashes.map((c) => c.id))}::bigint[])
        and e.claim_token = input.token and e.completed_at is null
      returning e.id, e.step_id, e.pipeline_klass, e.retry_count, e.crash_count, input.again, input.delay_s
    ), again as (
      insert into executions (step_id, pipeline_klass, run_at, retry_count, crash_count)
      select step_id, pipeline_klass, clock_timestamp() + make_interval(secs => delay_s), retry_count, crash_count + 1
      from crashed where again
      returning id
    ), gave_up as (
      update steps s set status = 'failed', finished_at = clock_timestamp(),
                         completed_at = case when s.branch_id is null then clock_timestamp() end,
                         updated_at = clock_timestamp()
      from crashed where s.id = crashed.step_id and not crashed.again and s.status = 'in_progress'
      returning s.id
    )
    select id::text as id from crashed`;
  return rows.map((r) => r.id as string);
}
