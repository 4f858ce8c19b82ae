-- Automation steps and cs.run_automations, the procedure that runs a tick
-- from SQL (for pg_cron).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';

SELECT step_name, position, statement, enabled, builtin FROM cs.automation_step ORDER BY position;

-- A step must be a SELECT or CALL that uses $1.
INSERT INTO cs.automation_step (step_name, position, statement) VALUES ('no_param', 20, 'SELECT 1');
INSERT INTO cs.automation_step (step_name, position, statement) VALUES ('delete', 20, 'DELETE FROM cs.account WHERE $1 IS NOT NULL');
INSERT INTO cs.automation_step (step_name, position, statement) VALUES ('Bad Name', 20, 'SELECT $1');

INSERT INTO cs.team_member (name, email, role_name) VALUES ('Carl', 'carl@example.com', 'csm');
INSERT INTO cs.account (external_id, name, created_at) VALUES ('due', 'Due Ltd', '2025-01-01+00');

-- A failing step is reported and the next one still runs, with the same
-- as_of.
INSERT INTO cs.automation_step (step_name, position, statement)
VALUES ('broken', 5, 'SELECT 1 / 0 WHERE $1 IS NOT NULL');
INSERT INTO cs.automation_step (step_name, position, statement)
VALUES ('count_accounts', 30, 'SELECT count(*) FROM cs.account WHERE created_at < $1');
CALL cs.run_automations('2025-03-15 00:00+00');
SELECT a.external_id, p.name AS phase, a.phase_entered_at
FROM cs.account AS a JOIN cs.phase AS p USING (phase_id);

-- Disabled steps are skipped.
UPDATE cs.automation_step SET enabled = false WHERE step_name IN ('broken', 'count_accounts');
CALL cs.run_automations('2025-06-01 00:00+00');
SELECT a.external_id, p.name AS phase FROM cs.account AS a JOIN cs.phase AS p USING (phase_id);

-- cs.run_automations skips CALL steps, which run in the worker or as jobs of
-- their own.
CREATE PROCEDURE pg_temp.record_tick(as_of timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'tick at %', as_of;
END;
$$;
INSERT INTO cs.automation_step (step_name, position, statement)
VALUES ('procedure_step', 40, 'CALL pg_temp.record_tick($1)');
CALL cs.run_automations('2025-06-02 00:00+00');

-- The worker status view has one row even before the first tick.
SELECT database = current_database() AS this_database, ticks, last_error FROM cs.worker_status;
