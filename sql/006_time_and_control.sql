-- Time and control: keyed triggers, cancel, waits for events and their signals, cron schedules, child
-- pipelines. Every wait is a row (a `wait` job, due at its timeout), so nothing waits in memory.

-- ---- keyed triggers, child pipelines, cancel
ALTER TABLE :"schema".pipelines ADD COLUMN key text,
  -- a child pipeline: the branch of its parent that waits for it, and the node it stands for
  ADD COLUMN parent_pipeline_id uuid, ADD COLUMN parent_branch_id uuid, ADD COLUMN parent_step_id uuid,
  ADD COLUMN cancel_reason text;
-- A second trigger with the same key finds the pipeline (while retention keeps it).
CREATE UNIQUE INDEX pipelines_key ON :"schema".pipelines (klass, key) WHERE key IS NOT NULL;
CREATE INDEX pipelines_parent ON :"schema".pipelines (parent_pipeline_id) WHERE parent_pipeline_id IS NOT NULL;

ALTER TABLE :"schema".pipelines DROP CONSTRAINT pipelines_status_check,
  ADD CONSTRAINT pipelines_status_check CHECK (status IN ('in_progress', 'completed', 'halted', 'cancelled'));
ALTER TABLE :"schema".runs DROP CONSTRAINT runs_status_check,
  ADD CONSTRAINT runs_status_check CHECK (status IN ('in_progress', 'completed', 'halted', 'cancelled'));
ALTER TABLE :"schema".branches DROP CONSTRAINT branches_status_check,
  ADD CONSTRAINT branches_status_check CHECK (status IN ('in_progress', 'completed', 'halted', 'cancelled'));
ALTER TABLE :"schema".branches DROP CONSTRAINT branches_halt_reason_check,
  ADD CONSTRAINT branches_halt_reason_check CHECK (halt_reason IN (
    'job_retries_exhausted', 'job_crashes_exhausted', 'advancer_retries_exhausted', 'advancer_crashes_exhausted',
    'max_fanout_exceeded', 'condition_unmatched', 'transition_invalid', 'wait_timed_out', 'child_halted'));
ALTER TABLE :"schema".steps DROP CONSTRAINT steps_to_transition_check,
  ADD CONSTRAINT steps_to_transition_check CHECK (to_transition IN (
    'start', 'chain', 'divide', 'combine', 'expand', 'collapse', 'divert', 'converge', 'on_halt', 'wait'));

-- A cancelled pipeline's jobs stay in the queue, parked (run_at 'infinity', claims cleared), so a
-- revive resumes them where they were.

-- ---- waits: a `wait` job is a branch waiting for an event (or a child pipeline's end), due at its timeout
ALTER TABLE :"schema".jobs DROP CONSTRAINT jobs_kind_check,
  ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('run', 'advance', 'wait')),
  -- a wait job: the event it waits for, and its timeout (null: none). A signal makes it due at once,
  -- so its deadline is kept apart from run_at.
  ADD COLUMN event text, ADD COLUMN wait_until timestamptz;
DROP INDEX :"schema".jobs_advance;
-- The advancer's claim: finished steps to route, and waits whose timeout has come.
CREATE INDEX jobs_advance ON :"schema".jobs (run_at) WHERE kind IN ('advance', 'wait') AND claimed_at IS NULL;
-- A signal finds the wait of its pipeline and event.
CREATE INDEX jobs_waiting ON :"schema".jobs (pipeline_id, event) WHERE kind = 'wait';

-- ---- signals: delivered events, kept until a wait consumes them (a signal may come first)
CREATE TABLE :"schema".signals (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline_id    uuid NOT NULL REFERENCES :"schema".pipelines (id) ON DELETE CASCADE,
  event          text NOT NULL,
  -- makes a repeated delivery idempotent
  dedupe_key     text,
  payload        text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  consumed_at    timestamptz,
  consumed_by    uuid
);
CREATE UNIQUE INDEX signals_dedupe ON :"schema".signals (pipeline_id, event, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX signals_pending ON :"schema".signals (pipeline_id, event, id) WHERE consumed_at IS NULL;

-- ---- cron schedules: one row per schedule; the engine that locks a due row triggers its tick
CREATE TABLE :"schema".schedules (
  pipeline_klass  text NOT NULL,
  name            text NOT NULL,
  cron            text NOT NULL,
  timezone        text NOT NULL,
  input           text NOT NULL,
  missed          text NOT NULL CHECK (missed IN ('skip', 'catch_up')),
  next_tick_at    timestamptz NOT NULL,
  last_tick_at    timestamptz,
  last_pipeline_id uuid,
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (pipeline_klass, name)
);
CREATE INDEX schedules_due ON :"schema".schedules (next_tick_at);

-- ---- the current definition of each pipeline class (registered by engines at start), for triggers
-- made in SQL by other drivers
CREATE TABLE :"schema".pipeline_classes (
  pipeline_klass  text PRIMARY KEY,
  definition_sha1 text NOT NULL REFERENCES :"schema".definitions (sha1),
  start_node      text NOT NULL,
  start_klass     text NOT NULL,
  registered_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Triggers a pipeline from SQL, inside the caller's transaction (any driver): the same rows as
-- DuctworkClient.trigger. `input` is JSON text. With `key`, a pipeline of that class and key that
-- already exists is returned instead. `run_at` starts it later. Returns the pipeline id.
CREATE FUNCTION :"schema".trigger_pipeline(pipeline text, input text, key text DEFAULT NULL, run_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cls :"schema".pipeline_classes;
  pid uuid := :"schema".uuidv7();
  rid uuid := :"schema".uuidv7();
  bid uuid := :"schema".uuidv7();
  sid uuid := :"schema".uuidv7();
  existing uuid;
BEGIN
  SELECT * INTO cls FROM :"schema".pipeline_classes c WHERE c.pipeline_klass = trigger_pipeline.pipeline;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ductwork: unknown pipeline %: no engine has registered it (start an engine that runs it first)', pipeline
      USING ERRCODE = 'P0002';
  END IF;
  PERFORM trigger_pipeline.input::jsonb; -- refuses text that is not JSON
  IF trigger_pipeline.key IS NOT NULL THEN
    INSERT INTO :"schema".pipelines (id, klass, status, key) VALUES (pid, trigger_pipeline.pipeline, 'in_progress', trigger_pipeline.key)
      ON CONFLICT (klass, key) WHERE key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN
      SELECT p.id INTO existing FROM :"schema".pipelines p WHERE p.klass = trigger_pipeline.pipeline AND p.key = trigger_pipeline.key;
      RETURN existing;
    END IF;
  ELSE
    INSERT INTO :"schema".pipelines (id, klass, status) VALUES (pid, trigger_pipeline.pipeline, 'in_progress');
  END IF;
  INSERT INTO :"schema".runs (id, pipeline_id, pipeline_klass, definition_sha1, status, triggered_at, started_at)
    VALUES (rid, pid, trigger_pipeline.pipeline, cls.definition_sha1, 'in_progress', clock_timestamp(), clock_timestamp());
  INSERT INTO :"schema".branches (id, run_id, pipeline_klass, frames, status, started_at, last_advanced_at)
    VALUES (bid, rid, trigger_pipeline.pipeline, '[]', 'in_progress', clock_timestamp(), clock_timestamp());
  INSERT INTO :"schema".jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass, to_transition,
                              input, idempotency_key, run_at)
    VALUES ('run', trigger_pipeline.pipeline, pid, rid, bid, cls.definition_sha1, sid, cls.start_node, cls.start_klass, 'start',
            trigger_pipeline.input, sid, coalesce(trigger_pipeline.run_at, clock_timestamp()));
  -- The engines' wake-up channel (the schema name, as the migration wrote it).
  PERFORM pg_notify(left('ductwork_' || trim(both '"' from ':"schema"'), 63), 'jobs:' || trigger_pipeline.pipeline);
  RETURN pid;
END $$;

-- The history view's join to the queue goes through the run (jobs_run): by step id alone it had no
-- index, and a status read of a run scanned the whole queue once per step of the run.
CREATE OR REPLACE VIEW :"schema".step_view AS
  SELECT s.id, s.run_id, s.branch_id, s.node, s.klass, s.to_transition,
         CASE WHEN t.id IS NOT NULL AND s.status = 'completed' THEN 'advancing' ELSE s.status END AS status,
         :"schema".step_input(s.input, s.input_ref, s.input_idx, s.to_transition) AS input, s.input_ref, s.input_idx, s.output, s.idempotency_key, s.source_step_id,
         s.retry_count, s.crash_count, s.started_at, s.finished_at
  FROM :"schema".steps s LEFT JOIN :"schema".jobs t ON t.run_id = s.run_id AND t.step_id = s.id AND t.kind = 'advance'
  UNION ALL
  SELECT j.step_id, j.run_id, j.branch_id, j.node, j.klass, j.to_transition, 'in_progress', j.input, j.input_ref, j.input_idx,
         NULL, j.idempotency_key, j.source_step_id, j.retry_count, j.crash_count, j.created_at, NULL
  FROM :"schema".jobs j WHERE j.kind = 'run';
