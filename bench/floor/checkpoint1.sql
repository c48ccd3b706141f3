-- checkpoint1: DBOS-style, one INSERT per step, no claim.
\set wf random(1, 1000000000)
INSERT INTO checkpoints (workflow_id, step, output) VALUES (:wf, 1, jsonb_build_object('ok', true)) ON CONFLICT DO NOTHING;
