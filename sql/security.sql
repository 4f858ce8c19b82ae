-- Roles: what cs_admin, cs_user and cs_reader can and cannot do, and the
-- pinned search_path of every function.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
DROP ROLE IF EXISTS regress_admin, regress_csm, regress_other_csm, regress_reader;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE ROLE regress_admin IN ROLE cs_admin;
CREATE ROLE regress_csm IN ROLE cs_user;
CREATE ROLE regress_other_csm IN ROLE cs_user;
CREATE ROLE regress_reader IN ROLE cs_reader;

-- Every function of the extension pins search_path, and none is
-- SECURITY DEFINER. Procedures are the exception to the first rule:
-- PostgreSQL runs a procedure with a SET clause atomically, so
-- cs.run_automations and cs.deliver_email could not commit between their
-- steps. Their bodies qualify every object instead.
SELECT p.proname, p.prokind
FROM pg_proc AS p
JOIN pg_depend AS d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'pg_success'
WHERE NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=pg_catalog, pg_temp'], false)
   OR p.prosecdef
ORDER BY p.proname;

-- cs_admin configures the team and the journey and loads data.
SET ROLE regress_admin;
INSERT INTO cs.team_member (member_id, name, email, role_name, db_role) VALUES
    (1, 'Carl', 'carl@example.com', 'csm', 'regress_csm'),
    (2, 'Cora', 'cora@example.com', 'csm', 'regress_other_csm');
UPDATE cs.phase SET max_duration = interval '20 days' WHERE name = 'Onboarding';
INSERT INTO cs.account (external_id, name, created_at) VALUES
    ('mine', 'Mine', '2025-01-01+00'),
    ('theirs', 'Theirs', '2025-01-01+00');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months)
SELECT account_id, '2025-01-01', '2026-01-01', 1000, 12 FROM cs.account;
SELECT cs.run_phase_transitions('2025-06-01+00') AS moved;
SELECT count(*) AS history_rows FROM cs.phase_history;
-- History is written only by the extension.
INSERT INTO cs.phase_history (account_id, changed_at, to_phase_id, changed_by, reason)
SELECT account_id, now(), 1, 'me', 'forged' FROM cs.account LIMIT 1;
RESET ROLE;

-- The two accounts went to the two CSMs when they reached Value.
SELECT a.external_id, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
ORDER BY a.external_id;

-- cs_user reads everything of the customer data and edits the attributes
-- and contacts of its own accounts only.
SET ROLE regress_csm;
SELECT external_id, owner_id FROM cs.account ORDER BY external_id;
UPDATE cs.account SET attributes = '{"note": "called"}' WHERE external_id = 'mine';
UPDATE cs.account SET attributes = '{"note": "sneaky"}' WHERE external_id = 'theirs';
SELECT external_id, attributes FROM cs.account ORDER BY external_id;
UPDATE cs.account SET owner_id = 1 WHERE external_id = 'theirs';
UPDATE cs.account SET status = 'churned' WHERE external_id = 'mine';
INSERT INTO cs.contact (account_id, name, email)
SELECT account_id, 'Pat', 'pat@mine.example.com' FROM cs.account WHERE external_id = 'mine';
INSERT INTO cs.contact (account_id, name, email)
SELECT account_id, 'Sam', 'sam@theirs.example.com' FROM cs.account WHERE external_id = 'theirs';
INSERT INTO cs.team_member (name, email, role_name) VALUES ('Eve', 'eve@example.com', 'csm');
UPDATE cs.phase SET max_duration = interval '1 day' WHERE name = 'Onboarding';
SELECT cs.run_phase_transitions('2025-06-01+00');
SELECT accounts FROM cs.accounts_per_phase WHERE phase = 'Value';
RESET ROLE;

-- cs_reader reads the report views and nothing else.
SET ROLE regress_reader;
SELECT phase, accounts FROM cs.accounts_per_phase WHERE accounts > 0;
SELECT owner, accounts FROM cs.accounts_per_owner ORDER BY owner;
SELECT count(*) FROM cs.unassigned_accounts;
SELECT count(*) FROM cs.account;
SELECT count(*) FROM cs.team_member;
SELECT cs.run_phase_transitions('2025-06-01+00');
RESET ROLE;

-- PUBLIC has no access at all.
CREATE ROLE regress_nobody;
SET ROLE regress_nobody;
SELECT count(*) FROM cs.account;
SELECT count(*) FROM cs.accounts_per_phase;
RESET ROLE;
DROP ROLE regress_nobody;

SELECT external_id, attributes, status FROM cs.account ORDER BY external_id;
SELECT a.external_id, c.name FROM cs.contact AS c JOIN cs.account AS a USING (account_id);

-- Only the domain checks are executable by PUBLIC; every other function
-- and procedure is granted to the roles that need it.
SELECT p.oid::regprocedure AS executable_by_public
FROM pg_proc AS p
WHERE p.pronamespace = 'cs'::regnamespace
  AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1::text;

-- Rules and sweeps act as the extension's owner, so only cs_admin runs them.
SET ROLE regress_reader;
SELECT cs.apply_rule(1);
SELECT cs.run_renewal_due(now());
CALL cs.run_automations(now());
RESET ROLE;
SET ROLE regress_csm;
SELECT cs.run_phase_overdue(now());
SELECT count(*) FROM cs.preview_rule('{"event": "account_updated", "actions": [{"action": "start_playbook", "playbook": "p"}]}');
RESET ROLE;

-- A cs_user resolves the alerts of its own accounts, and no role can
-- reopen a resolved alert.
INSERT INTO cs.alert (account_id, kind, severity, message, opened_at, last_raised_at)
SELECT account_id, 'check', 'low', 'Look at ' || name, '2025-06-01+00', '2025-06-01+00'
FROM cs.account WHERE external_id IN ('mine', 'theirs');
SET ROLE regress_csm;
UPDATE cs.alert AS al SET status = 'resolved', resolved_at = '2025-06-02+00', resolution_note = 'called them'
FROM cs.account AS a WHERE a.account_id = al.account_id AND a.external_id = 'mine';
UPDATE cs.alert AS al SET status = 'resolved', resolved_at = '2025-06-02+00'
FROM cs.account AS a WHERE a.account_id = al.account_id AND a.external_id = 'theirs';
UPDATE cs.alert AS al SET status = 'open', resolved_at = NULL
FROM cs.account AS a WHERE a.account_id = al.account_id AND a.external_id = 'mine';
RESET ROLE;
UPDATE cs.alert SET status = 'open', resolved_at = NULL WHERE status = 'resolved';
UPDATE cs.alert SET status = 'resolved', resolved_at = '1900-01-01+00' WHERE status = 'open';
SELECT a.external_id, al.status, al.resolution_note FROM cs.alert AS al JOIN cs.account AS a USING (account_id)
ORDER BY a.external_id;

DROP EXTENSION pg_success CASCADE;
DROP ROLE regress_admin, regress_csm, regress_other_csm, regress_reader;
