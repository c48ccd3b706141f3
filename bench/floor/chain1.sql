-- chain1: in-worker continuation, 1 commit per step (complete + insert the next as already claimed).
-- Each client owns pipeline client_id + 1.
\set pid :client_id + 1
BEGIN;
UPDATE steps SET status='done', output=jsonb_build_object('ok', true), completed_at=now()
 WHERE pipeline_id = :pid AND seq = (SELECT current_seq FROM pipelines WHERE id = :pid);
UPDATE pipelines SET current_seq = current_seq + 1, updated_at = now() WHERE id = :pid RETURNING current_seq AS sq \gset
INSERT INTO steps (pipeline_id, seq, status, claimed_by, claimed_at, payload)
 VALUES (:pid, :sq, 'running', 'w', now(), jsonb_build_object('n', 1));
COMMIT;
