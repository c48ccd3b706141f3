-- Storage for the long run: claimable and in-flight work moves to a narrow queue table (`jobs`)
-- whose rows are deleted when done; `steps` becomes append-only history written once per finished
-- step; payloads are stored once (a step's input refers to the output it came from); each
-- definition is stored once per fingerprint. See the README's "Storage" section for the writes per step.
--
-- Upgrading: stop every engine of the old version before applying this migration. Runs in flight
-- are carried over: steps that were queued or running (their claims are released, without charging
-- the crash budget) become jobs, finished steps not yet routed become advance jobs.

-- Time-ordered ids made by the database itself (an expand creates its branches in SQL): a v4 uuid
-- whose first 48 bits are the epoch milliseconds and whose version nibble is 7.
CREATE FUNCTION :"schema".uuidv7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
         52, 1), 53, 1), 'hex')::uuid
$$;

-- The indexes of a branch within its enclosing fan-outs, outermost first: the order of an open
-- fan-out's results.
CREATE FUNCTION :"schema".frame_path(frames jsonb) RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg((f ->> 'i')::integer ORDER BY n), '{}') FROM jsonb_array_elements(frames) WITH ORDINALITY AS x(f, n)
$$;

-- ---- definitions: one row per fingerprint, shared by every run of that definition
CREATE TABLE :"schema".definitions (
  sha1        text PRIMARY KEY,
  graph       jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO :"schema".definitions (sha1, graph)
  SELECT DISTINCT ON (definition_sha1) definition_sha1, definition FROM :"schema".runs ORDER BY definition_sha1, created_at;

-- ---- jobs: the queue. One row per step that is waiting to run or running (kind 'run') or that
-- finished and waits for the advancer to route its branch (kind 'advance'). A chain continues in the
-- same row: the success commit points it at the next step, an update that changes no indexed column
-- and so stays on its page (HOT). Due order is `run_at`, which a crash re-run keeps.
CREATE TABLE :"schema".jobs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('run', 'advance')),
  pipeline_klass   text NOT NULL,
  pipeline_id      uuid NOT NULL,
  run_id           uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  -- null only for the on_halt step, which belongs to no branch
  branch_id        uuid,
  definition_sha1  text NOT NULL,
  step_id          uuid NOT NULL,
  node             text NOT NULL,
  klass            text NOT NULL,
  to_transition    text NOT NULL,
  -- JSON text the step runs with (a transient copy: history refers to where it came from)
  input            text,
  input_ref        uuid,
  input_idx        integer,
  idempotency_key  uuid NOT NULL,
  source_step_id   uuid,
  run_at           timestamptz NOT NULL,
  -- run jobs: the step's error retries and crash re-runs; advance jobs: routing errors and advancer claims
  retry_count      integer NOT NULL DEFAULT 0,
  crash_count      integer NOT NULL DEFAULT 0,
  claimed_at       timestamptz,
  claim_token      uuid,
  process_id       uuid,
  -- when the step was created (its first attempt was queued)
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- the last routing error of an advance job, shown until it routes
  last_error       text
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
        autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);
-- The step claim, per pipeline in due order; claimed rows leave it.
CREATE INDEX jobs_due ON :"schema".jobs (pipeline_klass, run_at) WHERE kind = 'run' AND claimed_at IS NULL;
-- The advancer's claim.
CREATE INDEX jobs_advance ON :"schema".jobs (run_at) WHERE kind = 'advance' AND claimed_at IS NULL;
-- Claims held right now, by owner: what the reaper and a graceful stop look for.
CREATE INDEX jobs_claimed ON :"schema".jobs (process_id) WHERE claimed_at IS NOT NULL;
CREATE INDEX jobs_run ON :"schema".jobs (run_id);

-- Queued and running steps of the old schema: their latest execution, claims released.
INSERT INTO :"schema".jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass,
                            to_transition, input, idempotency_key, source_step_id, run_at, retry_count, crash_count, created_at)
  SELECT 'run', s.pipeline_klass, r.pipeline_id, s.run_id, s.branch_id, r.definition_sha1, s.id, s.node, s.klass,
         s.to_transition, s.input, s.idempotency_key, s.source_step_id, least(e.run_at, clock_timestamp()), e.retry_count, e.crash_count, s.started_at
  FROM :"schema".steps s
  JOIN :"schema".runs r ON r.id = s.run_id
  JOIN LATERAL (SELECT * FROM :"schema".executions x WHERE x.step_id = s.id ORDER BY x.id DESC LIMIT 1) e ON true
  WHERE s.status = 'in_progress' AND e.completed_at IS NULL;
-- Finished steps of open branches not yet routed.
INSERT INTO :"schema".jobs (kind, pipeline_klass, pipeline_id, run_id, branch_id, definition_sha1, step_id, node, klass,
                            to_transition, idempotency_key, source_step_id, run_at, retry_count, created_at)
  SELECT 'advance', s.pipeline_klass, r.pipeline_id, s.run_id, s.branch_id, r.definition_sha1, s.id, s.node, s.klass,
         s.to_transition, s.idempotency_key, s.source_step_id, clock_timestamp(), b.advance_errors, s.started_at
  FROM :"schema".steps s
  JOIN :"schema".runs r ON r.id = s.run_id
  JOIN :"schema".branches b ON b.id = s.branch_id
  WHERE s.completed_at IS NULL AND s.status IN ('advancing', 'failed') AND b.status = 'in_progress';

-- ---- attempts: one row per attempt that failed or crashed (a first attempt that succeeds writes none)
CREATE TABLE :"schema".attempts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id          uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  step_id         uuid NOT NULL,
  pipeline_klass  text NOT NULL,
  node            text NOT NULL,
  klass           text NOT NULL,
  retry_count     integer NOT NULL,
  crash_count     integer NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('failure', 'crashed')),
  error_class     text,
  error_code      text,
  error_message   text,
  error_stack     text,
  process_id      uuid,
  started_at      timestamptz,
  finished_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- when the next attempt became due (database clock), if there is one
  retry_at        timestamptz
);
CREATE INDEX attempts_step ON :"schema".attempts (step_id, id);
CREATE INDEX attempts_run ON :"schema".attempts (run_id);
-- Recent failures (step errors page, failing counts).
CREATE INDEX attempts_finished ON :"schema".attempts (finished_at);
INSERT INTO :"schema".attempts (run_id, step_id, pipeline_klass, node, klass, retry_count, crash_count, outcome,
                                error_class, error_code, error_message, error_stack, process_id, started_at, finished_at)
  SELECT s.run_id, s.id, e.pipeline_klass, s.node, s.klass, e.retry_count, e.crash_count, e.outcome,
         e.error_class, e.error_code, e.error_message, e.error_stack, e.process_id, e.claimed_at, e.completed_at
  FROM :"schema".executions e JOIN :"schema".steps s ON s.id = e.step_id
  WHERE e.outcome IN ('failure', 'crashed');

-- ---- steps: append-only history of finished steps. `input` is stored only where it is not the
-- output of another step: otherwise `input_ref` names that step (and `input_idx` the element of its
-- output an expand member got), or for a fan-in the fan-out whose members' outputs it gathered.
-- `process_id` is the engine that ran the attempt that finished it.
ALTER TABLE :"schema".steps ADD COLUMN input_ref uuid, ADD COLUMN input_idx integer,
  ADD COLUMN retry_count integer NOT NULL DEFAULT 0, ADD COLUMN crash_count integer NOT NULL DEFAULT 0, ADD COLUMN process_id uuid;
UPDATE :"schema".steps s SET retry_count = e.retry_count, crash_count = e.crash_count, process_id = e.process_id
  FROM (SELECT DISTINCT ON (step_id) step_id, retry_count, crash_count, process_id FROM :"schema".executions ORDER BY step_id, id DESC) e
  WHERE e.step_id = s.id AND s.status <> 'in_progress';
DELETE FROM :"schema".steps WHERE status = 'in_progress';
UPDATE :"schema".steps SET status = 'completed' WHERE status = 'advancing';
ALTER TABLE :"schema".steps ALTER COLUMN input DROP NOT NULL,
  DROP CONSTRAINT steps_status_check, ADD CONSTRAINT steps_status_check CHECK (status IN ('completed', 'failed')),
  ALTER COLUMN finished_at SET NOT NULL;
DROP INDEX :"schema".steps_awaiting_advance;
DROP INDEX :"schema".steps_branch;
ALTER TABLE :"schema".steps DROP COLUMN pipeline_klass, DROP COLUMN completed_at, DROP COLUMN created_at, DROP COLUMN updated_at;
-- Steps finished per minute (the dashboard's chart): history is appended in time order.
CREATE INDEX steps_finished_brin ON :"schema".steps USING brin (finished_at) WITH (autosummarize = on);
ALTER TABLE :"schema".steps RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);

-- ---- branches: a fan-out member knows its fan-out and index (its innermost frame), and the step it
-- brought to the fan-in; that replaces the arrivals table, which copied every member's output.
ALTER TABLE :"schema".branches ADD COLUMN fanout_id uuid, ADD COLUMN fanout_idx integer, ADD COLUMN arrival_step_id uuid;
UPDATE :"schema".branches SET fanout_id = (frames -> -1 ->> 'f')::uuid, fanout_idx = (frames -> -1 ->> 'i')::integer
  WHERE jsonb_array_length(frames) > 0;
UPDATE :"schema".branches b SET arrival_step_id = a.step_id FROM :"schema".arrivals a WHERE a.branch_id = b.id;
CREATE INDEX branches_fanout ON :"schema".branches (fanout_id, fanout_idx) WHERE fanout_id IS NOT NULL;
ALTER TABLE :"schema".branches DROP COLUMN advance_errors, DROP COLUMN advance_after;

-- ---- runs refer to their definition; their output is read from their branches' final steps
ALTER TABLE :"schema".runs ADD CONSTRAINT runs_definition_fkey FOREIGN KEY (definition_sha1) REFERENCES :"schema".definitions (sha1);
ALTER TABLE :"schema".runs DROP COLUMN definition, DROP COLUMN output;

-- ---- context: which step set a key (its idempotency key) in which attempt (its claim token), so a
-- retry, crash re-run or revive of that step may set it again, while one attempt still sets a key once
ALTER TABLE :"schema".tuples ADD COLUMN set_by uuid, ADD COLUMN set_token uuid;

-- ---- retention finds finished pipelines by when they finished
CREATE INDEX pipelines_finished ON :"schema".pipelines (updated_at) WHERE status <> 'in_progress';

-- ---- the heartbeat is an update of one column every second: unindexed, it stays HOT
DROP INDEX :"schema".processes_heartbeat;

DROP TABLE :"schema".arrivals;
DROP TABLE :"schema".executions;

-- ---- reads: every step of a run, finished or not, with its input resolved
-- (Parameters are named arg_*: inside the function body a column of the same name would win.)
CREATE FUNCTION :"schema".step_input(arg_input text, arg_ref uuid, arg_idx integer, arg_via text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN arg_input IS NOT NULL OR arg_ref IS NULL THEN arg_input
    WHEN arg_idx IS NOT NULL THEN (SELECT (p.output::jsonb -> arg_idx)::text FROM :"schema".steps p WHERE p.id = arg_ref)
    WHEN arg_via IN ('combine', 'collapse') THEN (
      SELECT '[' || coalesce(string_agg(o.output, ',' ORDER BY b.fanout_idx), '') || ']'
      FROM :"schema".branches b JOIN :"schema".steps o ON o.id = b.arrival_step_id WHERE b.fanout_id = arg_ref)
    ELSE (SELECT p.output FROM :"schema".steps p WHERE p.id = arg_ref)
  END
$$;

CREATE VIEW :"schema".step_view AS
  SELECT s.id, s.run_id, s.branch_id, s.node, s.klass, s.to_transition,
         CASE WHEN t.id IS NOT NULL AND s.status = 'completed' THEN 'advancing' ELSE s.status END AS status,
         :"schema".step_input(s.input, s.input_ref, s.input_idx, s.to_transition) AS input, s.input_ref, s.input_idx, s.output, s.idempotency_key, s.source_step_id,
         s.retry_count, s.crash_count, s.started_at, s.finished_at
  FROM :"schema".steps s LEFT JOIN :"schema".jobs t ON t.step_id = s.id AND t.kind = 'advance'
  UNION ALL
  SELECT j.step_id, j.run_id, j.branch_id, j.node, j.klass, j.to_transition, 'in_progress', j.input, j.input_ref, j.input_idx,
         NULL, j.idempotency_key, j.source_step_id, j.retry_count, j.crash_count, j.created_at, NULL
  FROM :"schema".jobs j WHERE j.kind = 'run';
