-- Rule facts: the value of every fact for data with a known result, as
-- recorded in cs.rule_firing.facts and merged into alert messages.
-- Row events use the transaction start time, so the data of each check is
-- written in the same transaction as the change that fires the rules, with
-- dates relative to now(). The sweeps take as_of and use fixed dates.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- The facts a rule's firings for an account recorded, one row per fact.
CREATE FUNCTION pg_temp.facts_of(rule text, account text)
RETURNS TABLE (fact text, value jsonb)
LANGUAGE sql AS $$
    SELECT e.key, e.value
    FROM cs.rule_firing AS f
    JOIN cs.account AS a ON a.account_id = f.account_id
    CROSS JOIN LATERAL jsonb_each(f.facts) AS e
    WHERE f.rule_name = rule AND a.name = account
    ORDER BY f.rule_firing_id, e.key;
$$;

INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Carl Csm', 'carl@example.com', 'csm');

BEGIN;
-- Facts Inc: a customer for 100 days and 1 hour, in Value for 12 days and
-- 23 hours, owned by a CSM.
INSERT INTO cs.account (account_id, external_id, name, segment, category, tier, created_at,
                        phase_id, phase_entered_at, owner_id, attributes) VALUES
    (10, 'facts', 'Facts Inc', 'enterprise', 'software', 'gold', now() - interval '100 days 1 hour',
     3, now() - interval '12 days 23 hours', 1, '{"plan": "pro", "seats": 25, "beta": true, "tags": ["a"]}'),
    (11, 'drop', 'Drop Co', 'smb', NULL, NULL, now() - interval '20 days',
     1, now() - interval '20 days', NULL, '{}');

-- Two active contracts (ARR 12000 and 3000.50, 40 and 10 licenses, ending
-- in 45 and 300 days) and a churned one, which no account fact counts.
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months, status) VALUES
    (10, current_date - 320, current_date + 45, 12000, 40, 12, 'active'),
    (10, current_date - 65, current_date + 300, 3000.50, 10, 12, 'active'),
    (10, current_date - 400, current_date + 10, 99999, 100, 12, 'churned');

-- Facts Inc: 5 active users a day for the 28 days before the last 7, then
-- 10 a day: adoption_change is (10 - 5) / 5 = +100 %. On the latest day
-- up to today 30 of the 50 active licenses are used: utilization 0.6. A
-- row dated tomorrow counts for neither.
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used, events)
SELECT 10, current_date - d, CASE WHEN d < 7 THEN 10 ELSE 5 END,
       CASE WHEN d = 0 THEN 30 ELSE 45 END, 100
FROM generate_series(0, 34) AS d;
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used) VALUES (10, current_date + 1, 500, 50);
-- Drop Co: 4 users a day, then 3 for the last 7 days: -25 %.
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used)
SELECT 11, current_date - d, CASE WHEN d < 7 THEN 3 ELSE 4 END, 2
FROM generate_series(0, 34) AS d;

-- Two open alerts and a resolved one.
INSERT INTO cs.alert (account_id, kind, severity, message, opened_at, last_raised_at, status, resolved_at) VALUES
    (10, 'low_usage', 'high', 'x', now(), now(), 'open', NULL),
    (10, 'renewal_risk', 'medium', 'x', now(), now(), 'open', NULL),
    (10, 'churn_risk', 'high', 'x', now(), now(), 'resolved', now());

-- Every account fact, read through the merge fields of the message.
INSERT INTO cs.rule (name, event, actions) VALUES ('account facts', 'account_updated',
    '[{"action": "raise_alert", "kind": "facts", "severity": "low",
       "message": "{{name}}|{{segment}}|{{category}}|{{tier}}|{{status}}|{{days_in_phase}}|{{days_as_customer}}|{{attributes.plan}}|{{attributes.seats}}|{{attributes.beta}}|{{attributes.tags}}|{{attributes.absent}}|{{phase}}|{{owner_role}}|{{arr}}|{{days_to_renewal}}|{{utilization}}|{{adoption_change}}|{{open_alerts}}|{{open_alerts.low_usage}}|{{open_alerts.churn_risk}}"}]');
UPDATE cs.account SET tier = tier WHERE account_id IN (10, 11);

-- Usage facts, and account facts read from the account row of a usage
-- event. Facts that a condition reads are recorded as well.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('usage facts', 'usage_recorded',
    '{"all": [{"fact": "usage.active_users", "ge": 0}, {"fact": "usage.licenses_used", "ge": 0},
              {"fact": "usage.events", "ge": 0}, {"fact": "name", "is_null": false},
              {"fact": "days_in_phase", "ge": 0}, {"fact": "attributes.plan", "is_null": false},
              {"fact": "utilization", "gt": 0}]}',
    '[{"action": "start_playbook", "playbook": "usage"}]');
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used, events)
VALUES (10, current_date - 40, 7, 8, 9);

-- Contract facts, for a contract inserted 60 days before its end.
INSERT INTO cs.rule (name, event, actions) VALUES ('contract facts', 'contract_changed',
    '[{"action": "raise_alert", "kind": "contract", "message":
       "{{contract.arr}}|{{contract.licenses}}|{{contract.status}}|{{contract.auto_renew}}|{{contract.days_to_end}}|{{arr}}|{{days_to_renewal}}"}]');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months, auto_renew)
VALUES (10, current_date - 305, current_date + 60, 500.25, 5, 12, true);
COMMIT;

SELECT * FROM pg_temp.facts_of('account facts', 'Facts Inc');
SELECT message FROM cs.alert WHERE kind = 'facts' AND account_id = 10;

-- Drop Co: no category, tier or owner, no contracts (ARR 0, no days to
-- renewal, no utilization), adoption -25 %, no alerts.
SELECT * FROM pg_temp.facts_of('account facts', 'Drop Co');
SELECT message FROM cs.alert WHERE kind = 'facts' AND account_id = 11;

SELECT * FROM pg_temp.facts_of('usage facts', 'Facts Inc');
SELECT * FROM pg_temp.facts_of('contract facts', 'Facts Inc');
SELECT f.subject_id = c.contract_id AS subject_is_contract, al.message
FROM cs.rule_firing AS f
JOIN cs.contract AS c ON c.account_id = f.account_id AND c.arr = 500.25
JOIN cs.alert AS al ON al.account_id = f.account_id AND al.kind = 'contract'
WHERE f.rule_name = 'contract facts';

-- phase_entered: previous_phase is the phase the account left, and no
-- value for a new account.
INSERT INTO cs.rule (name, event, actions) VALUES ('entry facts', 'phase_entered',
    '[{"action": "raise_alert", "kind": "entry", "message": "{{previous_phase}} -> {{phase}} after {{days_in_phase}} days"}]');
UPDATE cs.account SET phase_id = (SELECT phase_id FROM cs.phase WHERE name = 'Risk') WHERE account_id = 10;
INSERT INTO cs.account (account_id, external_id, name) VALUES (12, 'fresh', 'Fresh Ltd');
SELECT * FROM pg_temp.facts_of('entry facts', 'Facts Inc');
SELECT * FROM pg_temp.facts_of('entry facts', 'Fresh Ltd');
SELECT a.name, al.message FROM cs.alert AS al JOIN cs.account AS a USING (account_id)
WHERE al.kind = 'entry' ORDER BY a.name;

-- renewal_due: a contract that ends on 2040-06-30 is swept on 2040-05-01,
-- 60 days before: the 60-day threshold fires and the 90-day one is passed
-- over.
INSERT INTO cs.account (account_id, external_id, name, created_at) VALUES (13, 'renew', 'Renew Ltd', '2039-01-01+00');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months, auto_renew)
VALUES (13, '2039-07-01', '2040-06-30', 8000, 20, 12, false);
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('renewal facts', 'renewal_due',
    '{"fact": "name", "eq": "Renew Ltd"}',
    '[{"action": "raise_alert", "kind": "renewal", "message": "{{renewal.threshold}} days: {{contract.days_to_end}} left, {{contract.arr}}, auto renew {{contract.auto_renew}}"}]');
SELECT cs.run_renewal_due('2040-05-01 12:00+00') >= 1 AS raised;
SELECT * FROM pg_temp.facts_of('renewal facts', 'Renew Ltd');
SELECT message FROM cs.alert WHERE kind = 'renewal';

-- phase_overdue: an account that entered Onboarding (30 days) on
-- 2040-01-01 has used 0.9 of it on 2040-01-28.
INSERT INTO cs.account (account_id, external_id, name, created_at) VALUES (14, 'slow', 'Slow Ltd', '2040-01-01+00');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('overdue facts', 'phase_overdue',
    '{"fact": "name", "eq": "Slow Ltd"}',
    '[{"action": "raise_alert", "kind": "overdue", "message": "{{phase}} at {{phase_share}} after {{days_in_phase}} days"}]');
SELECT cs.run_phase_overdue('2040-01-28 00:00+00') >= 1 AS raised;
SELECT * FROM pg_temp.facts_of('overdue facts', 'Slow Ltd');
SELECT message FROM cs.alert WHERE kind = 'overdue';
