-- Time-based automations: the steps a worker tick runs, the worker's
-- recorded state, and the procedure that runs a tick from SQL (pg_cron).

CREATE TABLE cs.automation_step (
    step_name   text PRIMARY KEY
        CONSTRAINT automation_step_name_format CHECK (step_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    position    integer NOT NULL,
    statement   text NOT NULL
        CONSTRAINT automation_step_statement_form
        CHECK (statement ~* '^\s*(select|call)\s' AND position('$1' IN statement) > 0),
    enabled     boolean NOT NULL DEFAULT true,
    description text NOT NULL DEFAULT '',
    builtin     boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE cs.automation_step IS 'Steps of a worker tick, run in position order, each in a transaction of its own. Set enabled = false for a step that pg_cron runs instead.';
COMMENT ON COLUMN cs.automation_step.step_name IS 'Step name, shown in logs, pg_stat_activity and cs.worker_status.';
COMMENT ON COLUMN cs.automation_step.position IS 'Order within a tick.';
COMMENT ON COLUMN cs.automation_step.statement IS 'SELECT or CALL statement with $1 standing for the tick''s as_of time; a SELECT returns the number of items handled in its first column.';
COMMENT ON COLUMN cs.automation_step.enabled IS 'False to skip the step in worker ticks and in cs.run_automations.';
COMMENT ON COLUMN cs.automation_step.description IS 'What the step does.';
COMMENT ON COLUMN cs.automation_step.builtin IS 'True for the steps that the extension installs; a restore replaces them with the dumped version.';

CREATE TRIGGER automation_step_merge_builtin
    BEFORE INSERT ON cs.automation_step
    FOR EACH ROW WHEN (NEW.builtin) EXECUTE FUNCTION cs.merge_builtin_row();

INSERT INTO cs.automation_step (step_name, position, statement, description, builtin) VALUES
    ('phase_transitions', 10, 'SELECT cs.run_phase_transitions($1)',
     'Moves accounts whose phase is over to the next phase.', true),
    ('campaigns', 20, 'SELECT cs.run_campaigns($1)',
     'Queues the next throttled share of each running campaign.', true),
    ('email_delivery', 90, 'CALL cs.deliver_email(NULL, $1)',
     'Sends the due messages of the outbox over SMTP; does nothing while no message is due.', true);

CREATE TABLE cs.worker_state (
    singleton             boolean PRIMARY KEY DEFAULT true
        CONSTRAINT worker_state_singleton CHECK (singleton),
    worker_pid            integer,
    ticks                 bigint NOT NULL DEFAULT 0,
    last_tick_at          timestamptz,
    last_tick_finished_at timestamptz,
    last_tick_counts      jsonb,
    last_error_step       text,
    last_error            text,
    last_error_at         timestamptz
);

COMMENT ON TABLE cs.worker_state IS 'State of this database''s automation worker, written after every tick; one row.';
COMMENT ON COLUMN cs.worker_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN cs.worker_state.worker_pid IS 'Process id of the worker that ran the last tick.';
COMMENT ON COLUMN cs.worker_state.ticks IS 'Ticks run since the extension was created.';
COMMENT ON COLUMN cs.worker_state.last_tick_at IS 'as_of time of the last tick, which is when it started.';
COMMENT ON COLUMN cs.worker_state.last_tick_finished_at IS 'When the last tick finished.';
COMMENT ON COLUMN cs.worker_state.last_tick_counts IS 'Per step of the last tick: the number of items it handled, null when the step reports none, or "failed".';
COMMENT ON COLUMN cs.worker_state.last_error_step IS 'Step of the most recent failure.';
COMMENT ON COLUMN cs.worker_state.last_error IS 'Message of the most recent failure.';
COMMENT ON COLUMN cs.worker_state.last_error_at IS 'When the most recent failure happened.';

CREATE VIEW cs.worker_status AS
SELECT pg_catalog.current_database() AS database,
       a.pid AS running_pid,
       a.state AS worker_state,
       a.query AS current_activity,
       s.ticks,
       s.last_tick_at,
       s.last_tick_finished_at - s.last_tick_at AS last_tick_duration,
       s.last_tick_counts,
       s.last_error_step,
       s.last_error,
       s.last_error_at
FROM (SELECT true AS singleton) AS one
LEFT JOIN cs.worker_state AS s ON s.singleton
LEFT JOIN pg_catalog.pg_stat_activity AS a
       ON a.backend_type = 'pg_success worker' AND a.datname = pg_catalog.current_database();

COMMENT ON VIEW cs.worker_status IS 'This database''s automation worker: whether it runs, its last tick, duration, counts per step and last error.';
COMMENT ON COLUMN cs.worker_status.database IS 'Current database.';
COMMENT ON COLUMN cs.worker_status.running_pid IS 'Process id of the running worker; NULL when none runs.';
COMMENT ON COLUMN cs.worker_status.worker_state IS 'active while a tick runs, idle between ticks.';
COMMENT ON COLUMN cs.worker_status.current_activity IS 'The step the worker runs now, or its last one.';
COMMENT ON COLUMN cs.worker_status.ticks IS 'Ticks run since the extension was created.';
COMMENT ON COLUMN cs.worker_status.last_tick_at IS 'as_of time of the last tick.';
COMMENT ON COLUMN cs.worker_status.last_tick_duration IS 'How long the last tick took.';
COMMENT ON COLUMN cs.worker_status.last_tick_counts IS 'Items handled per step in the last tick.';
COMMENT ON COLUMN cs.worker_status.last_error_step IS 'Step of the most recent failure.';
COMMENT ON COLUMN cs.worker_status.last_error IS 'Message of the most recent failure.';
COMMENT ON COLUMN cs.worker_status.last_error_at IS 'When the most recent failure happened.';

-- Runs every enabled SELECT step once, like a worker tick, for DBAs who
-- schedule with pg_cron instead. Each step runs inside an exception block,
-- so a failure is reported as a WARNING and the next steps still run, and
-- each is committed before the next starts. CALL steps are skipped with a
-- NOTICE: PL/pgSQL runs a dynamic CALL atomically, and the procedures they
-- call commit, so they are scheduled as jobs of their own.
--
-- NOTE: this is the one routine without SET search_path, because PostgreSQL
-- rejects COMMIT in a procedure that has a SET clause. Its body therefore
-- qualifies every table, function and operator it uses, and the steps it
-- runs qualify theirs.
CREATE PROCEDURE cs.run_automations(as_of timestamptz DEFAULT now())
LANGUAGE plpgsql
AS $$
DECLARE
    step   record;
    handled bigint;
BEGIN
    FOR step IN
        SELECT s.step_name, s.statement
        FROM cs.automation_step AS s
        WHERE s.enabled
        ORDER BY s.position, s.step_name
    LOOP
        IF step.statement OPERATOR(pg_catalog.~*) '^\s*call\s' THEN
            -- A CALL run by EXECUTE cannot commit, and the procedures that
            -- steps call commit between their batches.
            RAISE NOTICE 'pg_success step % skipped: schedule "%" as a job of its own', step.step_name, step.statement;
        ELSE
            BEGIN
                EXECUTE step.statement INTO handled USING as_of;
                RAISE NOTICE 'pg_success step % handled % items', step.step_name, handled;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'pg_success step % failed: %', step.step_name, SQLERRM
                    USING ERRCODE = SQLSTATE;
            END;
        END IF;
        COMMIT;
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE cs.run_automations(timestamptz) IS 'Runs every enabled SELECT step of cs.automation_step once, each committed on its own, and skips CALL steps; for scheduling with pg_cron instead of the background worker.';

CREATE FUNCTION cs.wake_launcher()
RETURNS void
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_wake_launcher';

COMMENT ON FUNCTION cs.wake_launcher() IS 'Asks the pg_success launcher to look for databases without a worker once the current transaction commits.';

GRANT SELECT ON cs.automation_step, cs.worker_state, cs.worker_status TO cs_admin;
GRANT UPDATE (enabled) ON cs.automation_step TO cs_admin;
GRANT EXECUTE ON PROCEDURE cs.run_automations(timestamptz) TO cs_admin;

SELECT pg_catalog.pg_extension_config_dump('cs.automation_step', '');

-- A new installation gets its worker without a server restart.
SELECT cs.wake_launcher();
