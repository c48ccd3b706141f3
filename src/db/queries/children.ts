/**
 * Child pipelines: a parent branch's job parked as a `wait` for event `child:<id>` while the child
 * it triggered runs; the child's end hands the parent's job back to the advancer with a history row
 * for the child's node (its result, or a failure when the child halted or was cancelled).
 */
import { idList, type Queryable } from '../connect.js';

/** The event a parent branch waits for while its child runs. */
export const childEvent = (childId: string) => `child:${childId}`;

/**
 * For a claimed run job at a child node: triggers the child pipeline (`trigger_pipeline`, keyed by
 * the parent's step, so a re-run finds the same child), links it to its parent, and parks the
 * job as a wait for the child's end, fenced by the claim token. Returns the child's id, or
 * undefined when the claim was lost (nothing is then written: the caller's transaction rolls back).
 */
export async function startChild(sql: Queryable, job: { id: string; claim_token: string; pipeline_id: string; branch_id: string; step_id: string; input: string }, child: string): Promise<string | undefined> {
  // Three statements: a statement does not see the rows a function it calls inserts.
  const [started] = await sql`select trigger_pipeline(${child}, ${job.input}, ${`child:${job.step_id}`})::text as id`;
  const id = started!.id as string;
  await sql`update pipelines set parent_pipeline_id = ${job.pipeline_id}, parent_branch_id = ${job.branch_id}, parent_step_id = ${job.step_id}
            where id = ${id} and parent_pipeline_id is null`;
  const parked = await sql`
    update jobs set kind = 'wait', event = ${childEvent(id)}, wait_until = null, run_at = 'infinity', claimed_at = null, claim_token = null, process_id = null
    where id = ${job.id} and claim_token = ${job.claim_token} and kind = 'run'
    returning id`;
  return parked.length === 1 ? id : undefined;
}

/** Children (in progress) of a pipeline, for a cancel that cascades (pipelines_parent). */
export async function childrenInProgress(sql: Queryable, parentId: string): Promise<string[]> {
  const rows = await sql`select id from pipelines where parent_pipeline_id = ${parentId} and status = 'in_progress'`;
  return rows.map((r) => r.id as string);
}

/** Which of these pipelines are children, and of which parent in progress. */
export function parentsOf(sql: Queryable, pipelineIds: string[]) {
  return sql<{ id: string; parent_pipeline_id: string; parent_klass: string }[]>`
    select c.id, c.parent_pipeline_id, p.klass as parent_klass
    from pipelines c join pipelines p on p.id = c.parent_pipeline_id
    where c.id = any(${idList(pipelineIds)}::uuid[]) and p.status = 'in_progress'`;
}

/**
 * A child ended: the parent's job that waits for it becomes an advance job of the child's node,
 * with that node's history row: completed with `output`, or failed with an attempt saying why
 * (`error`). Returns whether a parent was waiting.
 */
export async function releaseParent(sql: Queryable, parentId: string, childId: string, outcome: { output: string } | { error: string }): Promise<boolean> {
  const completed = 'output' in outcome;
  const [row] = await sql`
    with waiting as (
      select * from jobs where pipeline_id = ${parentId} and kind = 'wait' and event = ${childEvent(childId)} for update
    ), handed as (
      update jobs j set kind = 'advance', event = null, wait_until = null, run_at = clock_timestamp(), input = null, input_ref = null,
                        input_idx = null, claimed_at = null, claim_token = null, process_id = null, retry_count = 0, crash_count = 0
      from waiting w where j.id = w.id
      returning j.id
    ), attempt as (
      insert into attempts (run_id, step_id, pipeline_klass, node, klass, retry_count, crash_count, outcome, error_class, error_code, error_message, started_at)
      select w.run_id, w.step_id, w.pipeline_klass, w.node, w.klass, w.retry_count, w.crash_count, 'failure', 'ChildHalted', 'child_halted',
             ${completed ? null : outcome.error}, w.created_at
      from waiting w where not ${completed}
    ), recorded as (
      insert into steps (id, run_id, branch_id, node, klass, to_transition, status, input, input_ref, input_idx, output, idempotency_key,
                         source_step_id, retry_count, crash_count, started_at, finished_at)
      select w.step_id, w.run_id, w.branch_id, w.node, w.klass, w.to_transition, case when ${completed} then 'completed' else 'failed' end,
             case when w.input_ref is null then w.input end, w.input_ref, w.input_idx, ${completed ? outcome.output : null}, w.idempotency_key,
             w.source_step_id, w.retry_count, w.crash_count, w.created_at, clock_timestamp()
      from waiting w
    )
    select count(*)::int as n from handed`;
  return (row!.n as number) > 0;
}
