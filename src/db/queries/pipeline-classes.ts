import type { Queryable } from '../connect.js';

/**
 * Records the definition a pipeline class triggers with now (its fingerprint and first step), for
 * `trigger_pipeline()` in SQL (other drivers). The last engine or client to register wins.
 */
export function registerPipelineClass(sql: Queryable, klass: string, sha1: string, startNode: string, startKlass: string) {
  return sql`
    insert into pipeline_classes (pipeline_klass, definition_sha1, start_node, start_klass)
    values (${klass}, ${sha1}, ${startNode}, ${startKlass})
    on conflict (pipeline_klass) do update set definition_sha1 = excluded.definition_sha1, start_node = excluded.start_node,
      start_klass = excluded.start_klass, registered_at = clock_timestamp()
    where pipeline_classes.definition_sha1 is distinct from excluded.definition_sha1`;
}
