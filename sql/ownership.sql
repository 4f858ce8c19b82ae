-- Owner assignment: strategies, capacity, segments, no member available,
-- deactivation and role changes.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE VIEW pg_temp.load AS
SELECT m.name, m.active, count(a.account_id) AS accounts, coalesce(sum(c.arr), 0) AS arr
FROM cs.team_member AS m
LEFT JOIN cs.account AS a ON a.owner_id = m.member_id
LEFT JOIN cs.contract AS c ON c.account_id = a.account_id AND c.status = 'active'
GROUP BY m.member_id, m.name, m.active
ORDER BY m.member_id;

-- No member at all: the account stays unassigned, the history records the
-- reason, and the insert itself succeeds.
INSERT INTO cs.account (external_id, name, created_at) VALUES ('orphan', 'Orphan', '2025-01-01+00');
SELECT external_id, owner_id FROM cs.account;
SELECT external_id, phase, needed_role, reason FROM cs.unassigned_accounts;

-- A new member of the needed role takes it over.
INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Olga', 'olga@example.com', 'onboarding_specialist'),
    (2, 'Otto', 'otto@example.com', 'onboarding_specialist');
SELECT a.external_id, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id;
SELECT cs.assign_owners(NULL, '2025-01-02+00') AS assigned_again;
SELECT count(*) AS unassigned FROM cs.unassigned_accounts;

-- least_accounts: ten new accounts split evenly, ties to the lower id.
INSERT INTO cs.account (external_id, name, created_at)
SELECT 'la-' || i, 'Least accounts ' || i, '2025-01-01+00' FROM generate_series(1, 10) AS i;
SELECT name, accounts FROM pg_temp.load;

-- Capacity: Otto takes at most 6; the rest go to Olga.
UPDATE cs.team_member SET max_accounts = 6 WHERE name = 'Otto';
INSERT INTO cs.account (external_id, name, created_at)
SELECT 'cap-' || i, 'Capacity ' || i, '2025-01-01+00' FROM generate_series(1, 4) AS i;
SELECT name, accounts FROM pg_temp.load;

-- Everyone at capacity: unassigned, with the reason.
UPDATE cs.team_member SET max_accounts = 8 WHERE name = 'Olga';
INSERT INTO cs.account (external_id, name, created_at) VALUES ('full', 'Full House', '2025-01-01+00');
SELECT external_id, reason FROM cs.unassigned_accounts;
-- Raising a capacity does not reassign by itself; cs.assign_owners does.
UPDATE cs.team_member SET max_accounts = NULL;
SELECT count(*) AS unassigned FROM cs.unassigned_accounts;
SELECT cs.assign_owners(ARRAY[(SELECT account_id FROM cs.account WHERE external_id = 'full')], '2025-01-02+00') AS assigned;

-- Segments: CSMs limited to segments take only those accounts. An account
-- whose segment no member serves stays unassigned.
INSERT INTO cs.team_member (member_id, name, email, role_name, segments) VALUES
    (3, 'Erin Enterprise', 'erin@example.com', 'csm', ARRAY['enterprise']),
    (4, 'Sid Smb', 'sid@example.com', 'csm', ARRAY['smb', 'mid']);
INSERT INTO cs.account (external_id, name, segment, created_at, phase_id) VALUES
    ('seg-ent', 'Big Corp', 'enterprise', '2025-01-01+00', 3),
    ('seg-smb', 'Small Shop', 'smb', '2025-01-01+00', 3),
    ('seg-gov', 'Ministry', 'government', '2025-01-01+00', 3),
    ('seg-none', 'No Segment', NULL, '2025-01-01+00', 3);
SELECT a.external_id, m.name AS owner FROM cs.account AS a LEFT JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.external_id LIKE 'seg-%' ORDER BY a.external_id;
SELECT external_id, reason FROM cs.unassigned_accounts ORDER BY external_id;

-- least_arr: the member with the least ARR gets the next account.
INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (5, 'Rita', 'rita@example.com', 'renewal_manager'),
    (6, 'Ravi', 'ravi@example.com', 'renewal_manager');
UPDATE cs.phase SET assignment_strategy = 'least_arr' WHERE name = 'Renewal';
INSERT INTO cs.account (external_id, name, created_at, phase_id) VALUES
    ('arr-big', 'Big ARR', '2025-01-01+00', 1),
    ('arr-small-1', 'Small ARR 1', '2025-01-01+00', 1),
    ('arr-small-2', 'Small ARR 2', '2025-01-01+00', 1);
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months)
SELECT account_id, '2025-01-01', '2026-01-01',
       CASE external_id WHEN 'arr-big' THEN 90000 ELSE 10000 END, 12
FROM cs.account WHERE external_id LIKE 'arr-%';
UPDATE cs.account SET phase_id = 4 WHERE external_id LIKE 'arr-%';
SELECT a.external_id, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.external_id LIKE 'arr-%' ORDER BY a.external_id;
SELECT name, accounts, arr FROM pg_temp.load WHERE name IN ('Rita', 'Ravi');

-- ARR capacity: Ravi's limit keeps the big account away from him.
UPDATE cs.team_member SET max_arr = 50000 WHERE name = 'Ravi';
INSERT INTO cs.account (external_id, name, created_at, phase_id)
VALUES ('arr-huge', 'Huge ARR', '2025-01-01+00', 1);
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months)
SELECT account_id, '2025-01-01', '2026-01-01', 45000, 12 FROM cs.account WHERE external_id = 'arr-huge';
UPDATE cs.account SET phase_id = 4 WHERE external_id = 'arr-huge';
SELECT m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.external_id = 'arr-huge';

-- round_robin: members take turns in id order, and the turn carries over
-- from one statement to the next.
INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (7, 'Ada', 'ada@example.com', 'cs_lead'),
    (8, 'Ben', 'ben@example.com', 'cs_lead'),
    (9, 'Cat', 'cat@example.com', 'cs_lead');
INSERT INTO cs.phase (phase_id, name, position, owner_role, assignment_strategy)
VALUES (10, 'Executive', 80, 'cs_lead', 'round_robin');
INSERT INTO cs.account (external_id, name, created_at, phase_id)
SELECT 'rr-' || i, 'Round robin ' || i, '2025-01-01+00', 10 FROM generate_series(1, 4) AS i;
INSERT INTO cs.account (external_id, name, created_at, phase_id)
VALUES ('rr-5', 'Round robin 5', '2025-01-01+00', 10);
SELECT a.external_id, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.external_id LIKE 'rr-%' ORDER BY a.account_id;
SELECT r.role_name, m.name AS last_member FROM cs.round_robin_cursor AS r JOIN cs.team_member AS m ON m.member_id = r.last_member_id;

-- Deactivating a member reassigns their accounts by the same strategy.
SELECT name, accounts FROM pg_temp.load WHERE name IN ('Olga', 'Otto');
UPDATE cs.team_member SET active = false WHERE name = 'Otto';
SELECT name, active, accounts FROM pg_temp.load WHERE name IN ('Olga', 'Otto');
SELECT h.reason, h.changed_by, count(*)
FROM cs.owner_history AS h
WHERE h.from_member_id = 2
GROUP BY h.reason, h.changed_by;

-- Deactivating the last member of a role leaves the accounts unassigned,
-- with the reason in the history.
UPDATE cs.team_member SET active = false WHERE name = 'Olga';
SELECT count(*) AS unassigned, min(reason) AS reason FROM cs.unassigned_accounts WHERE phase = 'Onboarding';

-- Reactivating members gives them the unassigned accounts of their role.
UPDATE cs.team_member SET active = true WHERE name IN ('Olga', 'Otto');
SELECT name, accounts FROM pg_temp.load WHERE name IN ('Olga', 'Otto');
SELECT count(*) AS unassigned FROM cs.unassigned_accounts WHERE phase = 'Onboarding';

-- A member who changes role hands over their accounts.
UPDATE cs.team_member SET role_name = 'csm' WHERE name = 'Ada';
SELECT a.external_id, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.external_id LIKE 'rr-%' ORDER BY a.account_id;

-- An owner set by hand is recorded as such and kept.
UPDATE cs.account SET owner_id = 3 WHERE external_id = 'seg-smb';
SELECT f.name AS from_owner, t.name AS to_owner, h.changed_by = current_user AS by_current_user, h.reason
FROM cs.owner_history AS h
LEFT JOIN cs.team_member AS f ON f.member_id = h.from_member_id
LEFT JOIN cs.team_member AS t ON t.member_id = h.to_member_id
WHERE h.account_id = (SELECT account_id FROM cs.account WHERE external_id = 'seg-smb')
ORDER BY h.owner_history_id;

-- Report view.
SELECT owner, role_name, active, accounts, arr FROM cs.accounts_per_owner ORDER BY member_id;

-- History keeps its references: a member or phase it names cannot be
-- deleted, and deleting an account deletes its history.
DELETE FROM cs.team_member WHERE name = 'Otto';
INSERT INTO cs.phase (phase_id, name, position, owner_role) VALUES (11, 'Temporary', 90, NULL);
UPDATE cs.account SET phase_id = 11 WHERE external_id = 'rr-1';
UPDATE cs.account SET phase_id = 10 WHERE external_id = 'rr-1';
DELETE FROM cs.phase WHERE name = 'Temporary';
INSERT INTO cs.phase (phase_id, name, position, owner_role) VALUES (12, 'Unused', 95, NULL);
DELETE FROM cs.phase WHERE name = 'Unused';
SELECT count(*) > 0 AS has_history FROM cs.owner_history
WHERE account_id = (SELECT account_id FROM cs.account WHERE external_id = 'orphan');
CREATE TEMP TABLE orphan_id AS SELECT account_id FROM cs.account WHERE external_id = 'orphan';
DELETE FROM cs.account WHERE external_id = 'orphan';
SELECT (SELECT count(*) FROM cs.owner_history WHERE account_id = (SELECT account_id FROM orphan_id)) AS owner_rows,
       (SELECT count(*) FROM cs.phase_history WHERE account_id = (SELECT account_id FROM orphan_id)) AS phase_rows;
