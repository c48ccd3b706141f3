-- Indexes the dashboard reads with, chosen to cost the engine's hot path next to nothing.

-- The throughput chart reads executions completed in the last hour. Rows complete roughly in the
-- order they were inserted, so a BRIN index (a few pages, almost free to maintain) narrows the scan
-- to the most recent page ranges; a B-tree here would add an index insert to every step commit.
CREATE INDEX executions_completed_brin ON :"schema".executions USING brin (completed_at) WITH (autosummarize = on);

-- Recent failures (step errors page, failing counts). Successes never enter this partial index.
CREATE INDEX executions_failures ON :"schema".executions (completed_at) WHERE outcome IN ('failure', 'crashed');

-- The pipelines list without a class or status filter, newest first.
CREATE INDEX pipelines_created ON :"schema".pipelines (created_at);
