-- batch10: claim 10 in one statement, complete & advance 10 in one statement (steps/s = tps × 10).
WITH c AS (SELECT id FROM steps WHERE status='pending' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED),
     u AS (UPDATE steps s SET status='running', claimed_by='w', claimed_at=now() FROM c WHERE s.id = c.id RETURNING s.id)
SELECT array_agg(id)::text AS ids FROM u \gset
WITH d AS (UPDATE steps SET status='done', output=jsonb_build_object('ok', true), completed_at=now()
           WHERE id = ANY(:ids::bigint[]) RETURNING pipeline_id, seq),
     p AS (UPDATE pipelines pl SET current_seq = d.seq + 1, updated_at = now() FROM d WHERE pl.id = d.pipeline_id)
INSERT INTO steps (pipeline_id, seq, payload) SELECT pipeline_id, seq + 1, jsonb_build_object('n', 1) FROM d;
