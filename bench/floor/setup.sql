-- Raw-SQL floor (reference/performance.md, Appendix A): the schema every floor script runs on,
-- seeded with 10,000 pipelines, each with one pending step. Recreated before each script.
DROP TABLE IF EXISTS steps, pipelines, checkpoints;
CREATE TABLE pipelines (
  id bigserial PRIMARY KEY,
  status text NOT NULL DEFAULT 'running',
  current_seq int NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE steps (
  id bigserial PRIMARY KEY,
  pipeline_id bigint NOT NULL,
  seq int NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  payload jsonb,
  output jsonb,
  claimed_by text,
  claimed_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX steps_pending_idx ON steps (id) WHERE status = 'pending';
CREATE INDEX steps_pipeline_idx ON steps (pipeline_id, seq);
CREATE TABLE checkpoints (workflow_id bigint, step int, output jsonb, PRIMARY KEY (workflow_id, step));
INSERT INTO pipelines (current_seq) SELECT 0 FROM generate_series(1, 10000);
INSERT INTO steps (pipeline_id, seq, payload) SELECT id, 0, jsonb_build_object('n', 1) FROM pipelines;
VACUUM ANALYZE;
CHECKPOINT;
