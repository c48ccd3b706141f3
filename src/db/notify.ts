import type { Queryable, Sql } from './connect.js';

/**
 * The channel an engine listens on for wake-up hints, one per schema. Notifications are hints
 * only: every loop also polls, so a lost notification costs latency, never work.
 */
export function wakeupChannel(schema: string): string {
  return `ductwork_${schema}`.slice(0, 63); // identifiers longer than 63 bytes are truncated by the server
}

/**
 * Queues a wake-up for loops in other processes; delivered when the surrounding transaction
 * commits (at once for an autocommit statement). `payload` names a loop channel (`jobs:<Pipeline>`
 * or `advance:<Pipeline>`). Callers send at most one per transaction.
 */
export function notifyWakeup(sql: Queryable, schema: string, payload: string) {
  return sql`select pg_notify(${wakeupChannel(schema)}, ${payload})`;
}

/**
 * Subscribes to the schema's wake-up channel on a dedicated connection that postgres.js opens
 * and re-opens after a drop; `onListen` runs after every (re)subscription, when notifications may
 * have been missed.
 */
export async function listenForWakeups(sql: Sql, schema: string, onPayload: (payload: string) => void, onListen: () => void): Promise<{ unlisten(): Promise<void> }> {
  const subscription = await sql.listen(wakeupChannel(schema), onPayload, onListen);
  return { unlisten: () => subscription.unlisten() };
}

/** Channel the job worker of `pipeline` waits on (in-process, and as a notification payload). */
export const jobsChannel = (pipeline: string) => `jobs:${pipeline}`;
/** Channel the advancers of `pipeline` wait on. */
export const advanceChannel = (pipeline: string) => `advance:${pipeline}`;
