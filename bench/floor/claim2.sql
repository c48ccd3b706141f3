-- claim2: SKIP LOCKED claim (1 commit) + complete & advance (1 commit) = 2 commits per step.
UPDATE steps SET status='running', claimed_by='w', claimed_at=now()
 WHERE id = (SELECT id FROM steps WHERE status='pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
 RETURNING id AS sid, pipeline_id AS pid, seq AS sq \gset
BEGIN;
UPDATE steps SET status='done', output=jsonb_build_object('ok', true), completed_at=now() WHERE id = :sid;
UPDATE pipelines SET current_seq = :sq + 1, updated_at = now() WHERE id = :pid;
INSERT INTO steps (pipeline_id, seq, payload) VALUES (:pid, :sq + 1, jsonb_build_object('n', 1));
COMMIT;
