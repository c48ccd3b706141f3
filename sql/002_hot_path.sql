-- Keeps the hot tables fast as completed history grows.

-- Worker threads of each engine process (0 for an advancer-only or supervisor process), for status pages.
ALTER TABLE :"schema".processes ADD COLUMN threads integer NOT NULL DEFAULT 0;

-- "The latest outcome of this step" reads the newest execution of one step: with (step_id, id)
-- that is one index probe, where (step_id) alone let the planner walk the primary key backwards.
CREATE INDEX executions_step_latest ON :"schema".executions (step_id, id);
DROP INDEX :"schema".executions_step;

-- Every step costs a few row versions in these tables. Vacuum and analyze them after 2% of rows
-- changed instead of 20%, so dead index entries of claimed and routed rows are cleared while the
-- tables are still small and the planner's row estimates follow a quickly growing queue.
ALTER TABLE :"schema".executions SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE :"schema".steps SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE :"schema".branches SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE :"schema".runs SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

-- A step's branch is a row of the same run, and steps already go with their run (ON DELETE
-- CASCADE on run_id). The branch foreign key only added a row lock on the branch to every step
-- insert, the most frequent write there is.
ALTER TABLE :"schema".steps DROP CONSTRAINT steps_branch_id_fkey;
