-- Timed events: cs.run_renewal_due raises renewal_due once per contract
-- and threshold, cs.run_phase_overdue raises phase_overdue once per phase
-- entry, both are automation steps, and bad arguments are rejected.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default

-- The sweep firings of a rule: account, the threshold or share, and the
-- as_of time.
CREATE FUNCTION pg_temp.swept(rule text)
RETURNS TABLE (account text, contract_id bigint, fact jsonb, fired_at timestamptz, fired_by text)
LANGUAGE sql AS $$
    SELECT a.name, f.subject_id, coalesce(f.facts -> 'renewal.threshold', f.facts -> 'phase_share'),
           f.fired_at, f.fired_by
    FROM cs.rule_firing AS f JOIN cs.account AS a USING (account_id)
    WHERE f.rule_name = rule
    ORDER BY f.rule_firing_id;
$$;

-- Runs the renewal sweep a number of days before 2030-03-31, at 09:00.
CREATE FUNCTION pg_temp.renewal_sweep(days_before integer, thresholds integer[] DEFAULT '{90,60,30}')
RETURNS bigint
LANGUAGE sql AS $$
    SELECT cs.run_renewal_due((('2030-03-31'::date - days_before) + time '09:00')::timestamptz, thresholds);
$$;

-- The accounts are in Value, which has no duration, so that the
-- phase_overdue sweeps below pass over them.
INSERT INTO cs.account (account_id, external_id, name, status, created_at, churned_at, phase_id, phase_entered_at) VALUES
    (1, 'renews', 'Renews', 'active', '2029-01-01+00', NULL, 3, '2029-01-01+00'),
    (2, 'renewed', 'Already Renewed', 'active', '2029-01-01+00', NULL, 3, '2029-01-01+00'),
    (3, 'gone', 'Gone', 'churned', '2029-01-01+00', '2029-06-01+00', 7, '2029-06-01+00'),
    (4, 'late', 'Late Loader', 'active', '2029-01-01+00', NULL, 3, '2029-01-01+00');
-- Contract 1 ends on 2030-03-31. Contract 2 ends then too but is already
-- renewed, and contract 3 belongs to a churned account: neither is due.
INSERT INTO cs.contract (contract_id, account_id, start_date, end_date, arr, term_months, status) VALUES
    (1, 1, '2029-03-31', '2030-03-31', 12000, 12, 'active'),
    (2, 2, '2029-03-31', '2030-03-31', 5000, 12, 'renewed'),
    (3, 3, '2029-03-31', '2030-03-31', 7000, 12, 'active');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('renewal reminder', 'renewal_due',
    '{"fact": "contract.status", "eq": "active"}',
    '[{"action": "raise_alert", "kind": "renewal_due", "message": "{{name}}: {{renewal.threshold}}-day reminder, {{contract.days_to_end}} days left"}]');

--
-- renewal_due: 95 days before the end nothing is due. At 90 days the
-- 90-day threshold fires, at 61 nothing new, at 60 the 60-day one, and a
-- second run at the same time raises nothing.
--
SELECT pg_temp.renewal_sweep(95) AS raised_95_days_before;
SELECT pg_temp.renewal_sweep(90) AS raised_90_days_before;
SELECT pg_temp.renewal_sweep(90) AS raised_again;
SELECT pg_temp.renewal_sweep(61) AS raised_61_days_before;
SELECT pg_temp.renewal_sweep(60) AS raised_60_days_before;

-- A contract loaded 20 days before its end: the 30-day threshold fires,
-- and 90 and 60, reached in the same sweep, are recorded as passed over.
INSERT INTO cs.contract (contract_id, account_id, start_date, end_date, arr, term_months)
VALUES (4, 4, '2029-03-21', '2030-03-21', 3000, 12);
SELECT pg_temp.renewal_sweep(30) AS raised_30_days_before;
SELECT pg_temp.renewal_sweep(30) AS raised_again;
SELECT pg_temp.renewal_sweep(0) AS raised_on_end_date;

SELECT account, contract_id, fact AS threshold, fired_at, fired_by FROM pg_temp.swept('renewal reminder');
SELECT o.account_id, o.occurrence, o.occurred_at, o.fired
FROM cs.time_event_occurrence AS o WHERE o.event = 'renewal_due' ORDER BY o.account_id, o.occurrence;
SELECT message, raised_count FROM cs.alert WHERE kind = 'renewal_due' ORDER BY account_id;

-- Custom thresholds: each is an occurrence of its own, and a repeated
-- threshold counts once. 10 days before the end of contract 1 only 14 is
-- reached, and 7 days before 7 is too. Contract 4 ends on the day of the
-- first run, so 7 fires for it and 14 is passed over.
SELECT pg_temp.renewal_sweep(10, '{14,7,7}') AS raised_10_days_before;
SELECT pg_temp.renewal_sweep(7, '{14,7,7}') AS raised_7_days_before;
SELECT account, contract_id, fact AS threshold FROM pg_temp.swept('renewal reminder') OFFSET 4;

-- A contract whose end date has passed is not due.
SELECT cs.run_renewal_due('2030-04-01 09:00+00', '{365}') AS raised_after_end;

-- Bad arguments.
SELECT cs.run_renewal_due('2030-01-01+00', '{}');
SELECT cs.run_renewal_due('2030-01-01+00', '{30,0}');
SELECT cs.run_renewal_due('2030-01-01+00', '{-30}');
SELECT cs.run_renewal_due('2030-01-01+00', '{3651}');
SELECT cs.run_renewal_due('2030-01-01+00', '{30,NULL}');
SELECT cs.run_renewal_due('2030-01-01+00', NULL);
SELECT cs.run_renewal_due(NULL);
SELECT cs.run_renewal_due('infinity');
SELECT cs.run_renewal_due('-infinity');
SELECT count(*) AS occurrences FROM cs.time_event_occurrence;

--
-- phase_overdue: Onboarding lasts 30 days. Share 0.8 is 24 days.
--
INSERT INTO cs.account (account_id, external_id, name, created_at, phase_id, phase_entered_at) VALUES
    (11, 'early', 'Early Warning', '2030-01-01+00', 1, '2030-01-01+00'),
    (12, 'late-warning', 'Late Warning', '2030-01-01+00', 1, '2030-01-01+00'),
    (13, 'valued', 'In Value', '2029-01-01+00', 3, '2029-01-01+00');
UPDATE cs.rule SET enabled = false WHERE name = 'renewal reminder';
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('overdue', 'phase_overdue',
    '{"fact": "name", "ne": "Late Warning"}',
    '[{"action": "raise_alert", "kind": "phase_overdue", "message": "{{name}} used {{phase_share}} of {{phase}}"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('very overdue', 'phase_overdue',
    '{"fact": "name", "eq": "Late Warning"}',
    '[{"action": "raise_alert", "kind": "phase_overdue", "message": "{{name}} used {{phase_share}} of {{phase}}"}]');

-- Exactly 24 days is not over 0.8 of the phase, and a second later it is.
SELECT cs.run_phase_overdue('2030-01-25 00:00:00+00', 0.8) AS raised_at_share;
SELECT cs.run_phase_overdue('2030-01-25 00:00:01+00', 0.8) AS raised_after_share;
SELECT cs.run_phase_overdue('2030-01-28 00:00:00+00', 0.8) AS raised_again;
SELECT account, fact AS share, fired_at, fired_by FROM pg_temp.swept('overdue');
SELECT account, fact AS share FROM pg_temp.swept('very overdue');

-- Share 1.5 is 45 days. The sweep with 0.8 already took Early Warning's
-- and Late Warning's entries, because an entry is raised once whatever
-- the share, so Late Warning is moved out and back first.
UPDATE cs.account SET phase_id = 2, phase_entered_at = '2030-01-09+00' WHERE account_id = 12;
UPDATE cs.account SET phase_id = 1, phase_entered_at = '2030-01-10+00' WHERE account_id = 12;
SELECT cs.run_phase_overdue('2030-02-24 00:00:00+00', 1.5) AS raised_at_share;
SELECT cs.run_phase_overdue('2030-02-24 00:00:01+00', 1.5) AS raised_after_share;
SELECT account, fact AS share, fired_at FROM pg_temp.swept('very overdue');
SELECT a.name, al.message, al.raised_count FROM cs.alert AS al JOIN cs.account AS a USING (account_id)
WHERE al.kind = 'phase_overdue' ORDER BY a.account_id;

-- Re-entering the phase is a new entry: it is raised again.
UPDATE cs.account SET phase_id = 2, phase_entered_at = '2030-02-01+00' WHERE account_id = 11;
UPDATE cs.account SET phase_id = 1, phase_entered_at = '2030-03-01+00' WHERE account_id = 11;
SELECT cs.run_phase_overdue('2030-03-27 00:00:00+00') AS raised_after_reentry;
SELECT account, fact AS share, fired_at FROM pg_temp.swept('overdue');
SELECT account_id, regexp_replace(occurrence, '^phase:\d+:', 'phase:<id>:') AS occurrence, fired
FROM cs.time_event_occurrence WHERE event = 'phase_overdue' ORDER BY account_id, occurrence;

-- A phase without a duration is never overdue, and churned accounts are
-- not swept.
SELECT cs.run_phase_overdue('2090-01-01+00', 0.01) AS raised_for_value;
UPDATE cs.account SET status = 'churned', churned_at = '2030-03-01+00' WHERE account_id = 12;
SELECT cs.run_phase_overdue('2090-01-01+00', 0.01) AS raised_for_churned;

-- Bad arguments.
SELECT cs.run_phase_overdue('2030-01-01+00', 0);
SELECT cs.run_phase_overdue('2030-01-01+00', -0.5);
SELECT cs.run_phase_overdue('2030-01-01+00', 'NaN');
SELECT cs.run_phase_overdue('2030-01-01+00', 100.5);
SELECT cs.run_phase_overdue('2030-01-01+00', NULL);
SELECT cs.run_phase_overdue(NULL);
SELECT cs.run_phase_overdue('infinity');

--
-- Both sweeps are automation steps, which cs.run_automations runs with
-- its as_of.
--
SELECT step_name, position, statement, enabled, builtin FROM cs.automation_step
WHERE step_name IN ('renewal_due', 'phase_overdue') ORDER BY position;
INSERT INTO cs.account (account_id, external_id, name, created_at, phase_id, phase_entered_at) VALUES
    (21, 'tick', 'Tick Ltd', '2031-01-01+00', 1, '2031-01-01+00');
INSERT INTO cs.contract (contract_id, account_id, start_date, end_date, arr, term_months)
VALUES (21, 21, '2030-02-20', '2031-02-20', 1000, 12);
UPDATE cs.rule SET enabled = true WHERE name = 'renewal reminder';
CALL cs.run_automations('2031-01-26 00:00+00');
SELECT account, contract_id, fact, fired_at, fired_by FROM pg_temp.swept('renewal reminder') WHERE account = 'Tick Ltd';
SELECT account, fact, fired_at, fired_by FROM pg_temp.swept('overdue') WHERE account = 'Tick Ltd';

--
-- Occurrences name the contract's end date: a contract whose end date
-- moves is due again. A threshold farther than one already recorded for
-- the end date never fires, so adding one later notifies no contract twice.
--
INSERT INTO cs.account (account_id, external_id, name, created_at, phase_id, phase_entered_at) VALUES
    (31, 'moved', 'Moved Ltd', '2031-01-01+00', 3, '2031-01-01+00');
INSERT INTO cs.contract (contract_id, account_id, start_date, end_date, arr, term_months)
VALUES (31, 31, '2031-01-01', '2032-01-01', 1000, 12);
SELECT cs.run_renewal_due('2031-12-10 00:00+00') AS due_22_days_before_end;
SELECT cs.run_renewal_due('2031-12-10 00:00+00', '{120,90,60,30}') AS after_adding_120_days;
UPDATE cs.contract SET end_date = '2033-01-01' WHERE contract_id = 31;
SELECT cs.run_renewal_due('2032-10-10 00:00+00') AS due_after_end_date_moved;
SELECT occurrence, fired FROM cs.time_event_occurrence WHERE account_id = 31 ORDER BY occurrence;
SELECT cs.run_renewal_due('2031-01-01+00', '{{30,60},{90,120}}');
