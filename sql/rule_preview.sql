-- cs.preview_rule and cs.apply_rule. A preview of a saved or unsaved rule
-- writes nothing, and cs.apply_rule then does what the preview listed. A
-- cooldown shows in suppressed_by, and bad arguments are rejected. The
-- preview of an account rule returns the facts the trigger recorded.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set as_of '''2025-06-01 12:00+00'''

-- Rows of every table a rule writes to.
CREATE VIEW pg_temp.written AS
SELECT (SELECT count(*) FROM cs.alert) AS alerts,
       (SELECT count(*) FROM cs.rule_firing) AS firings,
       (SELECT count(*) FROM cs.rule_cooldown) AS cooldowns,
       (SELECT count(*) FROM cs.playbook_request) AS playbook_requests,
       (SELECT count(*) FROM cs.phase_history) AS phase_changes;

-- Four accounts on 2025-06-01: Big Renewal and Small Renewal renew within
-- 90 days, Big Later in 200 days; No Contract has none.
INSERT INTO cs.account (account_id, external_id, name, segment, created_at, attributes) VALUES
    (1, 'big-renewal', 'Big Renewal', 'enterprise', '2024-01-01+00', '{"health": 40}'),
    (2, 'small-renewal', 'Small Renewal', 'smb', '2024-01-01+00', '{"health": 80}'),
    (3, 'big-later', 'Big Later', 'enterprise', '2024-01-01+00', '{}'),
    (4, 'no-contract', 'No Contract', 'smb', '2024-01-01+00', '{}');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months) VALUES
    (1, '2024-08-01', '2025-08-01', 50000, 100, 12),
    (2, '2024-07-15', '2025-07-15', 2000, 5, 12),
    (3, '2024-12-18', '2025-12-18', 90000, 200, 12);
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used)
SELECT a, '2025-06-01'::date - d, 10 * a, 20 * a FROM generate_series(1, 3) AS a, generate_series(0, 40) AS d;

-- An unsaved rule: every account with 1000 or more ARR that renews within
-- 90 days.
\set at_risk '{"event": "account_updated", "condition": {"all": [{"fact": "arr", "ge": 1000}, {"fact": "days_to_renewal", "lt": 90}]}, "actions": [{"action": "raise_alert", "kind": "renewal_risk", "severity": "high", "message": "{{name}} renews in {{days_to_renewal}} days with {{arr}} ARR"}, {"action": "start_playbook", "playbook": "renewal"}], "cooldown": "30 days"}'
SELECT * FROM pg_temp.written;
SELECT account_id, account_name, facts, suppressed_by FROM cs.preview_rule(:'at_risk', :as_of);
SELECT jsonb_pretty(actions) AS planned FROM cs.preview_rule(:'at_risk', :as_of) WHERE account_id = 1;
SELECT * FROM pg_temp.written;

-- The same rule, saved, previewed from its row.
INSERT INTO cs.rule (name, event, condition, actions, cooldown)
SELECT 'at risk', r ->> 'event', r -> 'condition', r -> 'actions', (r ->> 'cooldown')::interval
FROM (SELECT :'at_risk'::jsonb AS r) AS s;
SELECT rule_id AS at_risk_id FROM cs.rule WHERE name = 'at risk' \gset
CREATE TABLE pg_temp.previewed AS
SELECT p.account_id, p.facts, p.actions, p.suppressed_by
FROM cs.rule AS r, cs.preview_rule(to_jsonb(r), :as_of) AS p
WHERE r.name = 'at risk';
SELECT account_id, suppressed_by FROM pg_temp.previewed ORDER BY account_id;
SELECT * FROM pg_temp.written;

-- cs.apply_rule fires for exactly the accounts of the preview, with the
-- same facts, and the alerts carry the planned messages.
SELECT cs.apply_rule(:at_risk_id, :as_of) AS fired;
SELECT count(*) AS previewed_not_fired FROM (
    SELECT account_id, facts FROM pg_temp.previewed
    EXCEPT
    SELECT account_id, facts FROM cs.rule_firing WHERE rule_id = :at_risk_id) AS d;
SELECT count(*) AS fired_not_previewed FROM (
    SELECT account_id, facts FROM cs.rule_firing WHERE rule_id = :at_risk_id
    EXCEPT
    SELECT account_id, facts FROM pg_temp.previewed) AS d;
SELECT count(*) AS messages_not_planned FROM (
    SELECT account_id, message FROM cs.alert
    EXCEPT
    SELECT account_id, actions -> 0 ->> 'message' FROM pg_temp.previewed) AS d;
SELECT f.event, f.fired_at = :as_of AS at_as_of, f.fired_by = current_user AS by_me,
       jsonb_path_query_array(f.actions, '$[*].result') AS results
FROM cs.rule_firing AS f WHERE f.rule_id = :at_risk_id ORDER BY f.account_id;
SELECT * FROM pg_temp.written;

-- Within the cooldown the preview still lists the accounts, with the end
-- of the cooldown in suppressed_by, and cs.apply_rule fires nothing.
SELECT p.account_id, p.suppressed_by
FROM cs.rule AS r, cs.preview_rule(to_jsonb(r), '2025-06-15 12:00+00') AS p
WHERE r.name = 'at risk';
SELECT cs.apply_rule(:at_risk_id, '2025-06-15 12:00+00') AS fired_within_cooldown;
SELECT p.account_id, p.suppressed_by
FROM cs.rule AS r, cs.preview_rule(to_jsonb(r), '2025-07-01 12:00+00') AS p
WHERE r.name = 'at risk';

-- Change operators have no old row in a preview: "changed": false holds
-- for every account, and the others hold for none.
SELECT count(*) AS unchanged FROM cs.preview_rule(
    '{"event": "account_updated", "condition": {"fact": "segment", "changed": false},
      "actions": [{"action": "start_playbook", "playbook": "p"}]}', :as_of);
SELECT count(*) AS changed FROM cs.preview_rule(
    '{"event": "account_updated", "condition": {"fact": "segment", "changed": true},
      "actions": [{"action": "start_playbook", "playbook": "p"}]}', :as_of);

-- A usage rule previews each account's latest usage row up to as_of, and
-- a contract rule the active contract that ends first.
SELECT account_id, facts FROM cs.preview_rule(
    '{"event": "usage_recorded", "condition": {"fact": "usage.active_users", "ge": 20},
      "actions": [{"action": "start_playbook", "playbook": "p"}]}', :as_of);
SELECT account_id, facts FROM cs.preview_rule(
    '{"event": "contract_changed", "condition": {"fact": "contract.days_to_end", "lt": 100},
      "actions": [{"action": "raise_alert", "kind": "renewal", "message": "{{contract.arr}} in {{contract.days_to_end}} days"}]}',
    :as_of);

-- Bad arguments.
SELECT * FROM cs.preview_rule(NULL, :as_of);
SELECT * FROM cs.preview_rule(:'at_risk', NULL);
SELECT * FROM cs.preview_rule(:'at_risk', 'infinity');
SELECT * FROM cs.preview_rule(:'at_risk', '-infinity');
SELECT * FROM cs.preview_rule('[{"event": "account_updated"}]', :as_of);
SELECT * FROM cs.preview_rule('"account_updated"', :as_of);
SELECT * FROM cs.preview_rule('{"event": "account_updated", "condition": {"fact": "arr", "gt": "many"},
                                "actions": [{"action": "start_playbook", "playbook": "p"}]}', :as_of);
SELECT * FROM cs.preview_rule('{"condition": {"fact": "arr", "gt": 1},
                                "actions": [{"action": "start_playbook", "playbook": "p"}]}', :as_of);
SELECT * FROM cs.preview_rule('{"event": "account_updated", "condition": {"fact": "arr", "gt": 1}}', :as_of);
SELECT cs.apply_rule(NULL, :as_of);
SELECT cs.apply_rule(:at_risk_id, NULL);
SELECT cs.apply_rule(:at_risk_id, 'infinity');
SELECT cs.apply_rule(999999, :as_of);
SELECT * FROM pg_temp.written;

--
-- The preview of an account rule records what the trigger recorded for
-- the same data, at the trigger's time.
--
INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES (1, 'Carl Csm', 'carl@example.com', 'csm');
UPDATE cs.account SET owner_id = 1 WHERE account_id IN (1, 3);
INSERT INTO cs.alert (account_id, kind, severity, message, opened_at, last_raised_at) VALUES
    (2, 'low_usage', 'high', 'x', now(), now());
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('same facts', 'account_updated',
    '{"any": [{"fact": "arr", "ge": 0}, {"fact": "days_to_renewal", "is_null": true},
              {"fact": "utilization", "is_null": false}, {"fact": "adoption_change", "is_null": false},
              {"fact": "attributes.health", "gt": 50}, {"fact": "segment", "in": ["smb"]},
              {"fact": "open_alerts", "ge": 0}, {"fact": "open_alerts.low_usage", "eq": 1},
              {"fact": "phase", "matches": "^O"}, {"fact": "owner_role", "is_null": true},
              {"fact": "days_in_phase", "ge": 0}, {"fact": "days_as_customer", "ge": 0},
              {"fact": "name", "ne": ""}, {"fact": "status", "eq": "active"}]}',
    '[{"action": "start_playbook", "playbook": "compare"}]');
UPDATE cs.account SET tier = 'compared' WHERE account_id BETWEEN 1 AND 4;
SELECT fired_at AS trigger_time FROM cs.rule_firing WHERE rule_name = 'same facts' LIMIT 1 \gset
SELECT count(*) AS fired, count(DISTINCT fired_at) AS times FROM cs.rule_firing WHERE rule_name = 'same facts';
SELECT count(*) AS previewed_not_fired FROM (
    SELECT p.account_id, p.facts FROM cs.rule AS r, cs.preview_rule(to_jsonb(r), :'trigger_time') AS p
    WHERE r.name = 'same facts'
    EXCEPT
    SELECT account_id, facts FROM cs.rule_firing WHERE rule_name = 'same facts') AS d;
SELECT count(*) AS fired_not_previewed FROM (
    SELECT account_id, facts FROM cs.rule_firing WHERE rule_name = 'same facts'
    EXCEPT
    SELECT p.account_id, p.facts FROM cs.rule AS r, cs.preview_rule(to_jsonb(r), :'trigger_time') AS p
    WHERE r.name = 'same facts') AS d;
SELECT a.name, f.facts ->> 'open_alerts.low_usage' AS low_usage_alert, f.facts ->> 'owner_role' AS owner_role,
       f.facts ->> 'attributes.health' AS health
FROM cs.rule_firing AS f JOIN cs.account AS a USING (account_id)
WHERE f.rule_name = 'same facts' ORDER BY a.account_id;

--
-- An account without the event's row cannot raise the event, so the
-- preview leaves it out: no usage row, no active contract.
--
SELECT count(*) AS previewed_for_usage
FROM cs.preview_rule('{"event": "usage_recorded", "actions": [{"action": "start_playbook", "playbook": "p"}]}');
SELECT count(DISTINCT account_id) AS accounts_with_usage FROM cs.usage_daily;
SELECT count(*) AS previewed_for_contracts
FROM cs.preview_rule('{"event": "contract_changed", "actions": [{"action": "start_playbook", "playbook": "p"}]}');
SELECT count(DISTINCT account_id) AS accounts_with_active_contracts FROM cs.contract WHERE status = 'active';

-- Members that are not columns of cs.rule, and bad cooldowns.
SELECT * FROM cs.preview_rule('{"event": "account_updated", "condtion": {}, "actions": [{"action": "start_playbook", "playbook": "p"}]}');
SELECT * FROM cs.preview_rule('{"event": "account_updated", "cooldown": 5, "actions": [{"action": "start_playbook", "playbook": "p"}]}');
SELECT * FROM cs.preview_rule('{"event": "account_updated", "cooldown": "-5 days", "actions": [{"action": "start_playbook", "playbook": "p"}]}');
SELECT * FROM cs.preview_rule('{"event": "account_updated", "cooldown": "soon", "actions": [{"action": "start_playbook", "playbook": "p"}]}');

-- A disabled rule is not backfilled.
UPDATE cs.rule SET enabled = false WHERE name = 'same facts';
SELECT cs.apply_rule(rule_id) FROM cs.rule WHERE name = 'same facts';
