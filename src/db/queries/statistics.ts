import type { Queryable } from '../connect.js';

/**
 * Refreshes the planner's statistics of the tables a large fan-out just filled. Autovacuum would
 * get there within a minute or so; until then the planner may still believe a run has one branch
 * and scan all of them for every finished step (a 10k-element expand took a minute instead of
 * seconds). ANALYZE takes no lock that blocks reads or writes.
 */
export function analyzeFanOutTables(sql: Queryable) {
  return sql`analyze branches, steps, executions`;
}
