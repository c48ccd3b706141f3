-- Ductwork core schema. The schema placeholder is replaced with the configured schema name (quoted).
-- Every timestamp that another host compares is written with the database clock.

CREATE TABLE :"schema".pipelines (
  id          uuid PRIMARY KEY,
  klass       text NOT NULL,
  status      text NOT NULL CHECK (status IN ('in_progress', 'completed', 'halted')),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pipelines_klass_created ON :"schema".pipelines (klass, created_at);
CREATE INDEX pipelines_status_created ON :"schema".pipelines (status, created_at);

-- One incarnation of a pipeline (the trigger, or a revive). The definition is frozen per run.
CREATE TABLE :"schema".runs (
  id               uuid PRIMARY KEY,
  pipeline_id      uuid NOT NULL REFERENCES :"schema".pipelines (id) ON DELETE CASCADE,
  pipeline_klass   text NOT NULL,
  definition       jsonb NOT NULL,
  definition_sha1  text NOT NULL,
  status           text NOT NULL CHECK (status IN ('in_progress', 'completed', 'halted')),
  output           text,
  triggered_at     timestamptz NOT NULL,
  started_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  halted_at        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX runs_one_active ON :"schema".runs (pipeline_id) WHERE status = 'in_progress';
CREATE INDEX runs_pipeline_started ON :"schema".runs (pipeline_id, started_at);
CREATE INDEX runs_klass_started ON :"schema".runs (pipeline_klass, started_at);

-- A linear thread of execution; the unit the advancer locks. `frames` is the stack of open
-- fan-outs this branch is inside: [{"f": fanout id, "i": index within it}, ...].
CREATE TABLE :"schema".branches (
  id                uuid PRIMARY KEY,
  run_id            uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  pipeline_klass    text NOT NULL,
  parent_branch_id  uuid,
  frames            jsonb NOT NULL DEFAULT '[]',
  status            text NOT NULL CHECK (status IN ('in_progress', 'completed', 'halted')),
  halt_reason       text CHECK (halt_reason IN (
                      'job_retries_exhausted', 'job_crashes_exhausted', 'advancer_retries_exhausted',
                      'advancer_crashes_exhausted', 'max_fanout_exceeded', 'condition_unmatched',
                      'transition_invalid')),
  halt_detail       text,
  terminal_step_id  uuid,
  advance_errors    integer NOT NULL DEFAULT 0,
  advance_after     timestamptz NOT NULL DEFAULT '-infinity',
  started_at        timestamptz NOT NULL,
  last_advanced_at  timestamptz NOT NULL,
  completed_at      timestamptz,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX branches_run ON :"schema".branches (run_id, started_at);
-- Run resolution asks "is any branch of this run still open?"; this keeps the answer O(1).
CREATE INDEX branches_open_by_run ON :"schema".branches (run_id) WHERE status = 'in_progress';

-- One node executed on one branch, with its input and (once the job succeeded) its output.
CREATE TABLE :"schema".steps (
  id               uuid PRIMARY KEY,
  run_id           uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  branch_id        uuid REFERENCES :"schema".branches (id) ON DELETE CASCADE,
  pipeline_klass   text NOT NULL,
  node             text NOT NULL,
  klass            text NOT NULL,
  to_transition    text NOT NULL CHECK (to_transition IN (
                     'start', 'chain', 'divide', 'combine', 'expand', 'collapse', 'divert', 'converge', 'on_halt')),
  status           text NOT NULL CHECK (status IN ('in_progress', 'advancing', 'failed', 'completed')),
  input            text NOT NULL,
  output           text,
  idempotency_key  uuid NOT NULL,
  source_step_id   uuid,
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  completed_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX steps_branch ON :"schema".steps (branch_id, started_at);
CREATE INDEX steps_run ON :"schema".steps (run_id, started_at);
-- The advancer's candidate queue: finished steps not yet routed. Routed history leaves the index.
CREATE INDEX steps_awaiting_advance ON :"schema".steps (pipeline_klass, finished_at)
  WHERE completed_at IS NULL AND status IN ('advancing', 'failed');

-- One attempt to run a step: the queue entry, the claim, and the outcome in one row.
-- A retry or crash re-run inserts a new row; rows are never reused.
CREATE TABLE :"schema".executions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  step_id         uuid NOT NULL REFERENCES :"schema".steps (id) ON DELETE CASCADE,
  pipeline_klass  text NOT NULL,
  run_at          timestamptz NOT NULL,
  retry_count     integer NOT NULL DEFAULT 0,
  crash_count     integer NOT NULL DEFAULT 0,
  claimed_at      timestamptz,
  claim_token     uuid,
  process_id      uuid,
  completed_at    timestamptz,
  outcome         text CHECK (outcome IN ('success', 'failure', 'crashed')),
  error_class     text,
  error_code      text,
  error_message   text,
  error_stack     text,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The job claim: unclaimed rows only, so completed history never slows it down.
CREATE INDEX executions_ready ON :"schema".executions (pipeline_klass, run_at) WHERE claimed_at IS NULL;
-- Claims held right now, by owner: what the reaper and a graceful stop look for.
CREATE INDEX executions_in_flight ON :"schema".executions (process_id) WHERE claimed_at IS NOT NULL AND completed_at IS NULL;
CREATE INDEX executions_step ON :"schema".executions (step_id);

-- A divide or expand that will be closed by a combine or collapse: counts arrivals so the
-- fan-in fires exactly once (the arrival UPDATE takes the row lock).
CREATE TABLE :"schema".fanouts (
  id            uuid PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  branch_id     uuid NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('divide', 'expand')),
  width         integer NOT NULL,
  arrived       integer NOT NULL DEFAULT 0,
  frames        jsonb NOT NULL,
  fired_branch_id uuid,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX fanouts_run ON :"schema".fanouts (run_id);

-- The output each fan-out member brought to its fan-in, at its position (declaration or element index).
CREATE TABLE :"schema".arrivals (
  fanout_id   uuid NOT NULL REFERENCES :"schema".fanouts (id) ON DELETE CASCADE,
  idx         integer NOT NULL,
  branch_id   uuid NOT NULL,
  step_id     uuid NOT NULL,
  output      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (fanout_id, idx)
);

-- The per-run key/value context.
CREATE TABLE :"schema".tuples (
  run_id        uuid NOT NULL REFERENCES :"schema".runs (id) ON DELETE CASCADE,
  key           text NOT NULL,
  value         text NOT NULL,
  first_set_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_set_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, key)
);

-- Live engine processes. Each holds a session advisory lock on `lock_key` for its lifetime: when
-- the process dies its connection closes and the lock is free at once, which is how a reaper
-- knows the owner is dead within seconds. The heartbeat covers hosts that vanish silently.
CREATE TABLE :"schema".processes (
  id                 uuid PRIMARY KEY,
  pid                integer NOT NULL,
  host               text NOT NULL,
  role               text NOT NULL,
  lock_key           bigint NOT NULL,
  started_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_heartbeat_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX processes_heartbeat ON :"schema".processes (last_heartbeat_at);
