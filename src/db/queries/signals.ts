/**
 * Signals: events delivered to a pipeline, kept until a waiting branch consumes them, so a signal
 * sent before the branch reaches its wait is not lost. A signal and a wait serialize on a
 * transaction-level advisory lock per pipeline ({@link lockPipelineSignals}).
 */
import type { Queryable } from '../connect.js';

/** Serializes signal delivery and wait routing of one pipeline until the transaction ends. */
export function lockPipelineSignals(sql: Queryable, pipelineId: string) {
  return sql`select pg_advisory_xact_lock(hashtextextended(${`ductwork.signal.${pipelineId}`}, 0))`;
}

/** Stores a signal; with a key, a second one with the same key stores nothing (false; signals_dedupe). */
export async function insertSignal(sql: Queryable, pipelineId: string, event: string, payload: string, key: string | null): Promise<boolean> {
  const rows = key === null
    ? await sql`insert into signals (pipeline_id, event, payload) values (${pipelineId}, ${event}, ${payload}) returning id`
    : await sql`insert into signals (pipeline_id, event, dedupe_key, payload) values (${pipelineId}, ${event}, ${key}, ${payload})
                on conflict (pipeline_id, event, dedupe_key) where dedupe_key is not null do nothing returning id`;
  return rows.length === 1;
}

/** Consumes the oldest pending signal of a pipeline for `event` on behalf of a waiting step (signals_pending). Its payload, or undefined. */
export async function consumeSignal(sql: Queryable, pipelineId: string, event: string, stepId: string): Promise<string | undefined> {
  const [row] = await sql`
    update signals set consumed_at = clock_timestamp(), consumed_by = ${stepId}
    where id = (select id from signals where pipeline_id = ${pipelineId} and event = ${event} and consumed_at is null order by id limit 1)
    returning payload`;
  return row?.payload as string | undefined;
}
