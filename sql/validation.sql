-- Bad input: every rejected value gets an error with a SQLSTATE, the value
-- and a hint, and nothing is half-applied.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- Runs a statement and returns its SQLSTATE and message, or 'no error'.
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- E-mail addresses: message, detail and hint in full for one case.
INSERT INTO cs.team_member (name, email, role_name) VALUES ('Ann', 'ann.example.com', 'csm');

SELECT left(address, 24) AS address, pg_temp.error_of(format(
           'INSERT INTO cs.team_member (name, email, role_name) VALUES (%L, %L, %L)',
           'Test', address, 'csm')) AS result
FROM (VALUES ('ann@example.com'),
             ('ann.example.com'),
             ('ann@@example.com'),
             ('@example.com'),
             ('ann@example'),
             ('ann@example.'),
             ('ann@.example.com'),
             ('ann@example..com'),
             ('ann smith@example.com'),
             (repeat('a', 250) || '@example.com')) AS cases(address);

-- Time zones.
INSERT INTO cs.team_member (name, email, role_name, time_zone)
VALUES ('Bo', 'bo@example.com', 'csm', 'Mars/Olympus_Mons');

SELECT zone, pg_temp.error_of(format(
           'INSERT INTO cs.account (external_id, name, time_zone) VALUES (%L, %L, %L)',
           'tz-' || zone, 'Zone test', zone)) AS result
FROM (VALUES ('Europe/Berlin'),
             ('America/New_York'),
             ('UTC'),
             (''),
             ('Europe/Atlantis'),
             ('not a zone')) AS cases(zone);

-- Unknown owner role, for a member and for a phase.
INSERT INTO cs.team_member (name, email, role_name) VALUES ('Cy', 'cy@example.com', 'wizard');
UPDATE cs.phase SET owner_role = 'wizard' WHERE name = 'Risk';
SELECT pg_temp.error_of($$INSERT INTO cs.team_role (role_name) VALUES ('Not Valid')$$);

-- Member capacity and segments.
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name, max_accounts) VALUES ('D', 'd@example.com', 'csm', 0)$$);
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name, max_arr) VALUES ('D', 'd@example.com', 'csm', -5)$$);
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name, segments) VALUES ('D', 'd@example.com', 'csm', ARRAY['smb', NULL])$$);
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name) VALUES ('  ', 'd@example.com', 'csm')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name, max_arr) VALUES ('D', 'd@example.com', 'csm', 'NaN')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name, db_role) VALUES ('D', 'd@example.com', 'csm', '')$$);
-- Addresses are unique regardless of case.
SELECT pg_temp.error_of($$INSERT INTO cs.team_member (name, email, role_name) VALUES ('Ann', 'ANN@example.com', 'csm')$$);

-- Accounts.
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, status) VALUES ('a1', 'A1', 'paused')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, attributes) VALUES ('a1', 'A1', '[1, 2]')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name) VALUES ('', 'A1')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, created_at, churned_at) VALUES ('a1', 'A1', '2024-01-01', '2025-01-01')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, status, created_at, churned_at) VALUES ('a1', 'A1', 'churned', '2025-01-01', '2024-01-01')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, created_at) VALUES ('a1', 'A1', 'infinity')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, created_at) VALUES ('a1', 'A1', '-infinity')$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, created_at) VALUES ('a1', 'A1', NULL)$$);
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name, created_at, phase_id, phase_entered_at) VALUES ('a1', 'A1', '2025-01-01', 1, '2024-12-01')$$);
INSERT INTO cs.account (external_id, name, created_at) VALUES ('a1', 'A1', '2025-01-01');
SELECT pg_temp.error_of($$INSERT INTO cs.account (external_id, name) VALUES ('a1', 'Duplicate')$$);
SELECT pg_temp.error_of($$UPDATE cs.account SET phase_id = NULL WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$UPDATE cs.account SET phase_entered_at = NULL WHERE external_id = 'a1'$$);

-- Contracts: end before start, negative ARR, zero term.
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months)
SELECT account_id, '2025-06-01', '2025-01-01', 1200, 12 FROM cs.account WHERE external_id = 'a1';
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) SELECT account_id, '2025-01-01', '2025-01-01', 1200, 12 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) SELECT account_id, '2025-01-01', '2026-01-01', -1, 12 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) SELECT account_id, '2025-01-01', '2026-01-01', 'NaN', 12 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) SELECT account_id, '2025-01-01', 'infinity', 100, 12 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) SELECT account_id, '2025-01-01', '2026-01-01', 100, 0 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months, status) SELECT account_id, '2025-01-01', '2026-01-01', 100, 12, 'lost' FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) VALUES (999999, '2025-01-01', '2026-01-01', 100, 12)$$);

-- Usage: one row per account and day, no negative figures.
INSERT INTO cs.usage_daily (account_id, day, active_users)
SELECT account_id, '2025-01-02', 5 FROM cs.account WHERE external_id = 'a1';
SELECT pg_temp.error_of($$INSERT INTO cs.usage_daily (account_id, day, active_users) SELECT account_id, '2025-01-02', 6 FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.usage_daily (account_id, day, active_users) SELECT account_id, '2025-01-03', -1 FROM cs.account WHERE external_id = 'a1'$$);

-- Contacts: one primary per account, unique address per account.
INSERT INTO cs.contact (account_id, name, email, is_primary)
SELECT account_id, 'Pat', 'pat@a1.example.com', true FROM cs.account WHERE external_id = 'a1';
SELECT pg_temp.error_of($$INSERT INTO cs.contact (account_id, name, email, is_primary) SELECT account_id, 'Sam', 'sam@a1.example.com', true FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contact (account_id, name, email) SELECT account_id, 'Pat again', 'pat@a1.example.com' FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contact (account_id, name, email) SELECT account_id, 'Pat upper', 'PAT@a1.example.com' FROM cs.account WHERE external_id = 'a1'$$);
SELECT pg_temp.error_of($$INSERT INTO cs.contact (account_id, name, email) SELECT account_id, ' ', 'blank@a1.example.com' FROM cs.account WHERE external_id = 'a1'$$);

-- Phase configuration: negative and zero durations, next phase without a
-- duration, a phase that follows itself.
UPDATE cs.phase SET max_duration = interval '-5 days' WHERE name = 'Onboarding';
SELECT pg_temp.error_of($$UPDATE cs.phase SET max_duration = interval '0' WHERE name = 'Onboarding'$$);
SELECT pg_temp.error_of($$UPDATE cs.phase SET max_duration = interval '1 month -29 days 23 hours' WHERE name = 'Onboarding'$$);
SELECT pg_temp.error_of($$UPDATE cs.phase SET max_duration = interval '101 years' WHERE name = 'Onboarding'$$);
SELECT pg_temp.error_of($$TRUNCATE cs.phase CASCADE$$);
SELECT pg_temp.error_of($$UPDATE cs.phase SET max_duration = NULL WHERE name = 'Onboarding'$$);
SELECT pg_temp.error_of($$UPDATE cs.phase SET next_phase_id = phase_id WHERE name = 'Onboarding'$$);
SELECT pg_temp.error_of($$UPDATE cs.phase SET assignment_strategy = 'random' WHERE name = 'Onboarding'$$);

-- Two default phases: the deferred exclusion constraint rejects the commit.
BEGIN;
UPDATE cs.phase SET is_default = true WHERE name = 'Adoption';
COMMIT;
SELECT name FROM cs.phase WHERE is_default;

-- No default phase at all.
BEGIN;
UPDATE cs.phase SET is_default = false WHERE name = 'Onboarding';
COMMIT;
SELECT name FROM cs.phase WHERE is_default;

-- Moving the default in one statement, or over several in one transaction,
-- is accepted.
UPDATE cs.phase SET is_default = (name = 'Adoption');
SELECT name FROM cs.phase WHERE is_default;
BEGIN;
UPDATE cs.phase SET is_default = false WHERE name = 'Adoption';
UPDATE cs.phase SET is_default = true WHERE name = 'Onboarding';
COMMIT;
SELECT name FROM cs.phase WHERE is_default;

-- A cycle of next phases: Value -> Adoption closes Adoption -> Value.
BEGIN;
UPDATE cs.phase SET next_phase_id = 2, max_duration = interval '90 days' WHERE name = 'Value';
COMMIT;
SELECT name, next_phase_id FROM cs.phase WHERE name = 'Value';

-- A longer cycle through a new phase.
BEGIN;
INSERT INTO cs.phase (phase_id, name, position, max_duration, next_phase_id)
VALUES (20, 'Expansion', 35, interval '10 days', 1);
UPDATE cs.phase SET next_phase_id = 20, max_duration = interval '90 days' WHERE name = 'Value';
COMMIT;
SELECT count(*) AS phases FROM cs.phase;

-- Two builtin phases may swap names within a transaction.
BEGIN;
UPDATE cs.phase SET name = (CASE name WHEN 'Risk' THEN 'Advocacy' ELSE 'Risk' END)
WHERE name IN ('Risk', 'Advocacy');
COMMIT;
SELECT phase_id, name FROM cs.phase WHERE phase_id IN (5, 6) ORDER BY phase_id;
UPDATE cs.phase SET name = (CASE name WHEN 'Risk' THEN 'Advocacy' ELSE 'Risk' END)
WHERE name IN ('Risk', 'Advocacy');

-- A next phase that does not exist.
BEGIN;
UPDATE cs.phase SET next_phase_id = 999 WHERE name = 'Adoption';
COMMIT;

-- Two churn phases.
BEGIN;
UPDATE cs.phase SET is_churn = true WHERE name = 'Risk';
COMMIT;

-- Nothing of the rejected statements is left behind.
SELECT count(*) AS members FROM cs.team_member;
SELECT external_id, status FROM cs.account ORDER BY external_id;
SELECT count(*) AS contracts FROM cs.contract;
SELECT name, is_default, is_churn, max_duration, next_phase_id FROM cs.phase ORDER BY position;

-- More address shapes, with the reason each is rejected.
CREATE FUNCTION pg_temp.detail_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || detail;
END;
$$;

SELECT left(address, 30) AS address, pg_temp.detail_of(format(
           'INSERT INTO cs.team_member (name, email, role_name) VALUES (%L, %L, %L)',
           'Shape', address, 'csm')) AS result
FROM (VALUES ('<a@b.com>'),
             ('a..b@c.com'),
             ('.a@b.com'),
             ('a.@b.com'),
             ('a@-b.com'),
             ('a@b-.com'),
             ('a@[127.0.0.1]'),
             ('a@b.com.'),
             (repeat('x', 65) || '@example.com'),
             (E'a@b\u00a0.com'),
             ('first.last+tag@sub.example.co.uk')) AS cases(address);

-- Long values are cut in messages.
SELECT pg_temp.error_of(format('INSERT INTO cs.account (external_id, name, time_zone) VALUES (%L, %L, %L)',
       'long-zone', 'Long zone', repeat('Z', 500)));

-- Only names from the time zone database, spelled as it spells them.
SELECT zone, pg_temp.error_of(format(
           'INSERT INTO cs.account (external_id, name, time_zone) VALUES (%L, %L, %L)',
           'tz2-' || zone, 'Zone test', zone)) AS result
FROM (VALUES ('utc'), ('+02:00'), ('UTC+2'), ('europe/berlin'), ('EST'), ('Etc/GMT+2')) AS cases(zone);
