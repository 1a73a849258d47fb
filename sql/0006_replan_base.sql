-- The plan run a replan re-planned, so that the run a current replan came from can be read back.
-- NULL for plans and backtests.

ALTER TABLE adpilot.plan_runs ADD COLUMN based_on uuid REFERENCES adpilot.plan_runs (id);
