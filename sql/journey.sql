-- Journey: new accounts enter the default phase, timed transitions with
-- catch-up, the boundary rule, month ends, leap days and DST, churn and
-- reactivation, manual moves and the phase cache.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Olga Onboard', 'olga@example.com', 'onboarding_specialist'),
    (2, 'Carl Csm', 'carl@example.com', 'csm'),
    (3, 'Rita Renew', 'rita@example.com', 'renewal_manager');

-- Shows an account's journey so far.
CREATE FUNCTION pg_temp.journey_of(external text)
RETURNS TABLE (changed_at timestamptz, from_phase text, to_phase text, changed_by text, reason text)
LANGUAGE sql AS $$
    SELECT h.changed_at, f.name, t.name, h.changed_by, h.reason
    FROM cs.phase_history AS h
    JOIN cs.account AS a ON a.account_id = h.account_id
    LEFT JOIN cs.phase AS f ON f.phase_id = h.from_phase_id
    JOIN cs.phase AS t ON t.phase_id = h.to_phase_id
    WHERE a.external_id = external
    ORDER BY h.phase_history_id
$$;

CREATE VIEW pg_temp.state AS
SELECT a.external_id, p.name AS phase, a.phase_entered_at, a.status, m.name AS owner
FROM cs.account AS a
JOIN cs.phase AS p ON p.phase_id = a.phase_id
LEFT JOIN cs.team_member AS m ON m.member_id = a.owner_id
ORDER BY a.external_id;

-- A new account enters the default phase at created_at, with history and
-- an owner of the phase's role.
INSERT INTO cs.account (external_id, name, created_at) VALUES ('boundary', 'Boundary Ltd', '2025-01-01 00:00+00');
SELECT * FROM pg_temp.state;
SELECT * FROM pg_temp.journey_of('boundary');

-- Boundary rule: moved at exactly phase_entered_at + max_duration, not a
-- microsecond before.
SELECT cs.run_phase_transitions('2025-01-30 23:59:59.999999+00') AS moved;
SELECT cs.run_phase_transitions('2025-01-31 00:00:00+00') AS moved;
SELECT * FROM pg_temp.state;
SELECT cs.run_phase_transitions('2025-01-31 00:00:00+00') AS moved_again;

-- Catch-up: an account a year behind moves through Onboarding and Adoption
-- in one run, each step recorded at the time it was due (2024 is a leap
-- year: 2024-01-31 + 60 days is 2024-03-31).
INSERT INTO cs.account (external_id, name, created_at) VALUES ('late', 'Late Inc', '2024-01-01 00:00+00');
SELECT cs.run_phase_transitions('2025-01-01 00:00+00') AS moved;
SELECT * FROM pg_temp.journey_of('late');
SELECT * FROM pg_temp.state WHERE external_id = 'late';

-- Ownership followed the phases: the owner history of the catch-up.
SELECT CASE WHEN h.changed_at = h.recorded_at THEN 'when recorded' ELSE h.changed_at::text END AS changed_at,
       f.name AS from_owner, t.name AS to_owner, h.changed_by, h.reason
FROM cs.owner_history AS h
JOIN cs.account AS a ON a.account_id = h.account_id
LEFT JOIN cs.team_member AS f ON f.member_id = h.from_member_id
LEFT JOIN cs.team_member AS t ON t.member_id = h.to_member_id
WHERE a.external_id = 'late'
ORDER BY h.owner_history_id;

-- Month ends and leap days: with a one-month Onboarding, an account that
-- entered on 2024-01-31 is due on 2024-02-29.
UPDATE cs.phase SET max_duration = interval '1 month' WHERE name = 'Onboarding';
INSERT INTO cs.account (external_id, name, created_at) VALUES ('leap', 'Leap GmbH', '2024-01-31 00:00+00');
SELECT cs.run_phase_transitions('2024-02-28 23:59:59+00') AS moved_before_leap_day;
SELECT cs.run_phase_transitions('2024-02-29 00:00:00+00') AS moved_on_leap_day;
SELECT * FROM pg_temp.journey_of('leap');

-- DST: durations are added in the session's TimeZone. In New York, one day
-- after 2025-03-08 12:00 EST is 2025-03-09 12:00 EDT, 23 hours later.
SET TimeZone = 'America/New_York';
UPDATE cs.phase SET max_duration = interval '1 day' WHERE name = 'Onboarding';
INSERT INTO cs.account (external_id, name, created_at) VALUES ('dst', 'Spring Forward', '2025-03-08 12:00:00');
SELECT cs.run_phase_transitions('2025-03-09 11:59:59') AS moved_before_noon;
SELECT cs.run_phase_transitions('2025-03-09 12:00:00') AS moved_at_noon;
SELECT changed_at, from_phase, to_phase FROM pg_temp.journey_of('dst');
SELECT phase_entered_at - '2025-03-08 12:00:00'::timestamptz AS elapsed
FROM cs.account WHERE external_id = 'dst';
SET TimeZone = 'UTC';
UPDATE cs.phase SET max_duration = interval '30 days' WHERE name = 'Onboarding';

-- Churn: the account moves to the churn phase at churned_at and gets an
-- owner of that phase's role.
UPDATE cs.account SET status = 'churned', churned_at = '2025-02-01 00:00+00' WHERE external_id = 'boundary';
SELECT * FROM pg_temp.state WHERE external_id = 'boundary';
SELECT * FROM pg_temp.journey_of('boundary');

-- Correcting the churn date of an account in the churn phase moves its
-- entry into the phase along with it.
UPDATE cs.account SET churned_at = '2025-02-03 00:00+00' WHERE external_id = 'boundary';
SELECT phase, phase_entered_at FROM pg_temp.state WHERE external_id = 'boundary';

-- Churned accounts are not moved by timed transitions.
UPDATE cs.phase SET max_duration = interval '10 days', next_phase_id = 6 WHERE name = 'Churned';
SELECT cs.run_phase_transitions('2026-01-01 00:00+00') AS moved;
SELECT phase FROM pg_temp.state WHERE external_id = 'boundary';
UPDATE cs.phase SET max_duration = NULL, next_phase_id = NULL WHERE name = 'Churned';

-- A statement of many rows: every account placed, one history row each.
INSERT INTO cs.account (external_id, name, created_at)
SELECT 'bulk-' || i, 'Bulk ' || i, '2025-01-10 00:00+00'
FROM generate_series(1, 100) AS i;
SELECT p.name, count(*) FROM cs.account AS a JOIN cs.phase AS p USING (phase_id)
WHERE a.external_id LIKE 'bulk-%' GROUP BY p.name;
SELECT count(*) AS entry_rows FROM cs.phase_history AS h JOIN cs.account AS a USING (account_id)
WHERE a.external_id LIKE 'bulk-%';

-- Churned without a date: churned_at is the statement time.
BEGIN;
UPDATE cs.account SET status = 'churned' WHERE external_id = 'late';
SELECT s.phase, a.churned_at = now() AS churned_now, a.phase_entered_at = now() AS entered_now
FROM pg_temp.state AS s JOIN cs.account AS a USING (external_id) WHERE external_id = 'late';
COMMIT;

-- Reactivation: back to the default phase, churned_at cleared.
UPDATE cs.account SET status = 'active' WHERE external_id = 'late';
SELECT s.phase, a.churned_at, s.owner FROM pg_temp.state AS s JOIN cs.account AS a USING (external_id)
WHERE external_id = 'late';
SELECT from_phase, to_phase, reason FROM pg_temp.journey_of('late') OFFSET 3;
SELECT to_owner.name AS owner_after_reactivation
FROM cs.account AS a JOIN cs.team_member AS to_owner ON to_owner.member_id = a.owner_id
WHERE a.external_id = 'late';

-- A user moves an account by hand: recorded with the user's name, entered
-- now, and the owner follows the phase's role.
BEGIN;
UPDATE cs.account SET phase_id = (SELECT phase_id FROM cs.phase WHERE name = 'Risk')
WHERE external_id = 'bulk-1';
SELECT phase, phase_entered_at = now() AS entered_now, owner FROM pg_temp.state WHERE external_id = 'bulk-1';
COMMIT;
SELECT from_phase, to_phase, changed_by = current_user AS by_current_user, reason FROM pg_temp.journey_of('bulk-1');

-- An update that touches neither phase nor status changes nothing else.
UPDATE cs.account SET attributes = '{"plan": "gold"}' WHERE external_id = 'bulk-2';
SELECT count(*) AS history_rows FROM pg_temp.journey_of('bulk-2');

-- An account inserted churned goes straight to the churn phase.
INSERT INTO cs.account (external_id, name, status, created_at, churned_at)
VALUES ('gone', 'Gone Co', 'churned', '2023-01-01+00', '2024-06-30+00');
SELECT * FROM pg_temp.state WHERE external_id = 'gone';
SELECT * FROM pg_temp.journey_of('gone');

-- An account inserted with its phase and entry time is a copy (a restore
-- or a migration): kept as given, with no entry row and no owner assignment.
INSERT INTO cs.account (external_id, name, created_at, phase_id, phase_entered_at)
VALUES ('copied', 'Copied Co', '2020-01-01+00', 3, '2020-04-01+00');
SELECT * FROM pg_temp.state WHERE external_id = 'copied';
SELECT count(*) AS history_rows FROM pg_temp.journey_of('copied');

-- Upsert on external_id: the update path leaves the phase alone and the
-- insert path places the new account.
INSERT INTO cs.account (external_id, name, created_at)
VALUES ('copied', 'Copied Company', '2025-01-01+00'), ('fresh', 'Fresh Co', '2025-01-05+00')
ON CONFLICT (external_id) DO UPDATE SET name = excluded.name;
SELECT * FROM pg_temp.state WHERE external_id IN ('copied', 'fresh');
SELECT count(*) AS copied_history_rows FROM pg_temp.journey_of('copied');
SELECT * FROM pg_temp.journey_of('fresh');

-- A rolled-back insert leaves no buffered history behind.
BEGIN;
SAVEPOINT before_insert;
INSERT INTO cs.account (external_id, name) VALUES ('rolled-back', 'Rolled Back');
ROLLBACK TO SAVEPOINT before_insert;
INSERT INTO cs.account (external_id, name, created_at) VALUES ('kept', 'Kept', '2025-01-05+00');
COMMIT;
SELECT count(*) AS rolled_back_rows FROM cs.account WHERE external_id = 'rolled-back';
SELECT * FROM pg_temp.journey_of('kept');

-- The phase cache follows a change of the default phase in the same session
-- and transaction.
BEGIN;
UPDATE cs.phase SET is_default = (name = 'Adoption');
INSERT INTO cs.account (external_id, name, created_at) VALUES ('new-default', 'New Default', '2025-01-05+00');
SELECT phase FROM pg_temp.state WHERE external_id = 'new-default';
ROLLBACK;
INSERT INTO cs.account (external_id, name, created_at) VALUES ('old-default', 'Old Default', '2025-01-05+00');
SELECT phase FROM pg_temp.state WHERE external_id = 'old-default';

-- as_of must be a finite time.
SELECT cs.run_phase_transitions(NULL);
SELECT cs.run_phase_transitions('infinity');
SELECT cs.run_phase_transitions('-infinity');

-- Inside a transaction with an uncommitted cycle of phases, the walk stops
-- after one step per phase instead of looping.
BEGIN;
UPDATE cs.phase SET max_duration = interval '10 days', next_phase_id = 1 WHERE name = 'Value';
INSERT INTO cs.account (external_id, name, created_at) VALUES ('cycler', 'Cycler', '2020-01-01+00');
SELECT cs.run_phase_transitions('2025-01-01+00') > 0 AS moved_some;
SELECT count(*) <= (SELECT count(*) FROM cs.phase) + 1 AS bounded_history FROM pg_temp.journey_of('cycler');
ROLLBACK;

-- An insert into cs.account that runs inside another keeps both
-- statements' entries and owners.
CREATE FUNCTION pg_temp.insert_extra(external text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cs.account (external_id, name, created_at)
    VALUES (external || '-extra', 'Extra', '2025-01-05+00');
    RETURN external;
END;
$$;
INSERT INTO cs.account (external_id, name, created_at)
SELECT pg_temp.insert_extra('outer-' || i), 'Outer ' || i, '2025-01-05+00'
FROM generate_series(1, 2) AS i;
SELECT a.external_id, count(h.*) AS history_rows, a.owner_id IS NOT NULL AS has_owner
FROM cs.account AS a LEFT JOIN cs.phase_history AS h USING (account_id)
WHERE a.external_id LIKE 'outer-%'
GROUP BY a.external_id, a.owner_id ORDER BY a.external_id;

-- Report view.
SELECT phase, accounts, unassigned_accounts FROM cs.accounts_per_phase ORDER BY position;
