-- Rule actions: raise_alert, move_phase, assign_owner, queue_email,
-- set_attribute and start_playbook, what each records in its firing,
-- cs.rule_effect returning the rule behind a row, and an action that
-- fails on data, which is rolled back alone.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default

-- What the actions of each firing did, oldest first.
CREATE VIEW pg_temp.effects AS
SELECT e.rule_firing_id, e.rule_name, a.name AS account, f.depth, e.action, e.result, e.target_kind, e.detail
FROM cs.rule_effect AS e
JOIN cs.rule_firing AS f USING (rule_firing_id)
JOIN cs.account AS a ON a.account_id = e.account_id
ORDER BY e.rule_firing_id, e.action;

INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Carl Csm', 'carl@example.com', 'csm'),
    (2, 'Rita Renew', 'rita@example.com', 'renewal_manager'),
    (3, 'Ravi Renew', 'ravi@example.com', 'renewal_manager');

-- Accounts in Value, which the csm role owns, so Carl owns them all.
INSERT INTO cs.account (account_id, external_id, name, phase_id, created_at) VALUES
    (1, 'alert', 'Alert Co', 3, '2025-01-01+00'),
    (2, 'move', 'Move Co', 3, '2025-01-01+00'),
    (3, 'owner-a', 'Owner A', 3, '2025-01-01+00'),
    (4, 'owner-b', 'Owner B', 3, '2025-01-01+00'),
    (5, 'mail', 'Mail Co', 3, '2025-01-01+00'),
    (6, 'silent', 'Silent Co', 3, '2025-01-01+00'),
    (7, 'attribute', 'Attribute Co', 3, '2025-01-01+00'),
    (8, 'playbook', 'Playbook Co', 3, '2025-01-01+00');
INSERT INTO cs.contact (account_id, name, email, is_primary) VALUES
    (5, 'Pat Primary', 'pat@mail.example.com', true),
    (6, 'Sam Secondary', 'sam@silent.example.com', false);
INSERT INTO cs.email_template (name, subject, body_text) VALUES
    ('check_in', 'How is {{account.name}} doing?', 'Hello {{contact.name}}');
SELECT a.name, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
ORDER BY a.account_id;

--
-- raise_alert
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('low usage', 'usage_recorded',
    '{"fact": "usage.active_users", "lt": 5}',
    '[{"action": "raise_alert", "kind": "low_usage", "severity": "high",
       "message": "{{name}} has {{usage.active_users}} users on this day"}]');

-- The first firing opens an alert.
INSERT INTO cs.usage_daily (account_id, day, active_users) VALUES (1, '2025-03-01', 3);
SELECT kind, severity, message, status, raised_count, opened_at = last_raised_at AS raised_once
FROM cs.alert ORDER BY alert_id;

-- The second updates the open alert: one open row, raised twice, with the
-- message of the latest raise.
INSERT INTO cs.usage_daily (account_id, day, active_users) VALUES (1, '2025-03-02', 2);
SELECT kind, message, status, raised_count FROM cs.alert ORDER BY alert_id;
SELECT account_name, kind, severity, message, raised_count, owner_name, rule_name FROM cs.open_alerts;

-- A usage row that does not match changes nothing.
INSERT INTO cs.usage_daily (account_id, day, active_users) VALUES (1, '2025-03-03', 50);
SELECT count(*) AS alerts, sum(raised_count) AS raised FROM cs.alert;

-- Once resolved, the next firing opens a new alert.
UPDATE cs.alert SET status = 'resolved', resolved_at = now(), resolution_note = 'Called them';
INSERT INTO cs.usage_daily (account_id, day, active_users) VALUES (1, '2025-03-04', 4);
SELECT kind, message, status, raised_count, resolution_note FROM cs.alert ORDER BY alert_id;
SELECT rule_name, account, action, result, target_kind, detail FROM pg_temp.effects;

--
-- move_phase
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('to risk', 'account_updated',
    '{"fact": "attributes.do", "eq": "risk"}',
    '[{"action": "move_phase", "phase": "Risk"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('to nowhere', 'account_updated',
    '{"fact": "attributes.do", "eq": "nowhere"}',
    '[{"action": "move_phase", "phase": "Nowhere"}]');

-- The account moves, and the phase history records the rule as the
-- author, at the time of the change. Moving the account raises account_updated again,
-- so the rule fires once more, at depth 2, and finds it already there.
UPDATE cs.account SET attributes = '{"do": "risk"}' WHERE account_id = 2;
SELECT p.name AS phase, a.phase_entered_at = f.fired_at AS entered_at_firing
FROM cs.account AS a JOIN cs.phase AS p USING (phase_id)
JOIN cs.rule_firing AS f ON f.account_id = a.account_id AND f.rule_name = 'to risk' AND f.depth = 1
WHERE a.account_id = 2;
SELECT fp.name AS from_phase, tp.name AS to_phase, h.changed_by, h.changed_at = f.fired_at AS at_firing
FROM cs.phase_history AS h
JOIN cs.phase AS fp ON fp.phase_id = h.from_phase_id
JOIN cs.phase AS tp ON tp.phase_id = h.to_phase_id
JOIN cs.rule_firing AS f ON f.account_id = h.account_id AND f.rule_name = 'to risk' AND f.depth = 1
WHERE h.account_id = 2 ORDER BY h.phase_history_id;
SELECT rule_name, account, depth, action, result, target_kind, detail FROM pg_temp.effects
WHERE rule_name = 'to risk';

-- Firing again leaves the account where it is.
UPDATE cs.account SET tier = 'gold' WHERE account_id = 2;
SELECT rule_name, account, depth, result, detail FROM pg_temp.effects
WHERE rule_name = 'to risk' ORDER BY rule_firing_id DESC LIMIT 1;

-- A phase that does not exist: the action is skipped with the reason.
UPDATE cs.account SET attributes = '{"do": "nowhere"}' WHERE account_id = 2;
SELECT p.name AS phase FROM cs.account AS a JOIN cs.phase AS p USING (phase_id) WHERE a.account_id = 2;
SELECT rule_name, account, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'to nowhere';

-- A move that fires another move: entering Risk moves the account on to
-- Advocacy, one level deeper. Each firing names its own history row.
INSERT INTO cs.account (account_id, external_id, name, phase_id, created_at) VALUES
    (10, 'escalate', 'Escalate Co', 3, '2025-01-01+00');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('escalate', 'account_updated',
    '{"all": [{"fact": "attributes.do", "eq": "escalate"}, {"fact": "phase", "eq": "Value"}]}',
    '[{"action": "move_phase", "phase": "Risk"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('after risk', 'phase_entered',
    '{"all": [{"fact": "attributes.do", "eq": "escalate"}, {"fact": "phase", "eq": "Risk"}]}',
    '[{"action": "move_phase", "phase": "Advocacy"}]');
UPDATE cs.account SET attributes = '{"do": "escalate"}' WHERE account_id = 10;
SELECT e.rule_name, f.depth, e.result, fp.name AS from_phase, tp.name AS to_phase
FROM cs.rule_effect AS e
JOIN cs.rule_firing AS f USING (rule_firing_id)
JOIN cs.phase_history AS h ON e.target_kind = 'phase_change' AND h.phase_history_id = e.target_id
JOIN cs.phase AS fp ON fp.phase_id = h.from_phase_id
JOIN cs.phase AS tp ON tp.phase_id = h.to_phase_id
WHERE e.account_id = 10 ORDER BY f.depth;

--
-- assign_owner
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('renewal owner', 'account_updated',
    '{"fact": "attributes.do", "eq": "owner"}',
    '[{"action": "assign_owner", "role": "renewal_manager", "strategy": "round_robin"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('lead owner', 'account_updated',
    '{"fact": "attributes.do", "eq": "lead"}',
    '[{"action": "assign_owner", "role": "cs_lead"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('wizard owner', 'account_updated',
    '{"fact": "attributes.do", "eq": "wizard"}',
    '[{"action": "assign_owner", "role": "wizard"}]');

-- round_robin over the two renewal managers, for the two rows of one
-- statement. The owner history names the rule.
UPDATE cs.account SET attributes = '{"do": "owner"}' WHERE account_id IN (3, 4);
SELECT a.name, m.name AS owner FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.account_id IN (3, 4) ORDER BY a.account_id;
SELECT a.name, fm.name AS from_owner, tm.name AS to_owner, h.changed_by, h.reason
FROM cs.owner_history AS h
JOIN cs.account AS a USING (account_id)
LEFT JOIN cs.team_member AS fm ON fm.member_id = h.from_member_id
LEFT JOIN cs.team_member AS tm ON tm.member_id = h.to_member_id
WHERE h.changed_by LIKE 'rule %' ORDER BY h.owner_history_id;
-- Each owner change fires the rule again, one level deeper, which finds
-- the owner in the role.
SELECT rule_name, account, depth, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'renewal owner';

-- An owner who already has the role stays.
UPDATE cs.account SET tier = 'silver' WHERE account_id = 3;
SELECT rule_name, account, result, target_kind, detail FROM pg_temp.effects
WHERE rule_name = 'renewal owner' ORDER BY rule_firing_id DESC LIMIT 1;

-- A role without active members: the account keeps its owner, no
-- history is written, and the firing records the reason.
UPDATE cs.account SET attributes = '{"do": "lead"}' WHERE account_id = 4;
SELECT a.name, m.name AS owner FROM cs.account AS a LEFT JOIN cs.team_member AS m ON m.member_id = a.owner_id
WHERE a.account_id = 4;
SELECT count(*) AS history_rows FROM cs.owner_history WHERE changed_by = 'rule lead owner';
SELECT rule_name, account, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'lead owner';

-- A role that does not exist: skipped.
UPDATE cs.account SET attributes = '{"do": "wizard"}' WHERE account_id = 4;
SELECT rule_name, account, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'wizard owner';

--
-- queue_email
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('check in mail', 'account_updated',
    '{"fact": "attributes.do", "eq": "mail"}',
    '[{"action": "queue_email", "template": "check_in"}]');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('missing template', 'account_updated',
    '{"fact": "attributes.do", "eq": "mail"}',
    '[{"action": "queue_email", "template": "no_such_template"}]');

-- Two firings in one day queue one message, because the idempotency key
-- contains the rule, its version, the account and the day.
BEGIN;
UPDATE cs.account SET attributes = '{"do": "mail"}' WHERE account_id IN (5, 6);
UPDATE cs.account SET tier = 'bronze' WHERE account_id IN (5, 6);
COMMIT;
SELECT a.name, o.to_address, o.subject, o.status,
       o.idempotency_key = format('rule:%s:v1:account:%s:%s:check_in', r.rule_id, a.account_id,
                                  to_char(o.queued_at, 'YYYY-MM-DD')) AS key_as_documented
FROM cs.email_outbox AS o
JOIN cs.account AS a USING (account_id)
JOIN cs.rule AS r ON r.name = 'check in mail';
SELECT rule_name, account, result, target_kind,
       regexp_replace(replace(detail, ':' || r.rule_id || ':', ':<rule_id>:'), '\d{4}-\d{2}-\d{2}', '<day>') AS detail
FROM pg_temp.effects JOIN cs.rule AS r ON r.name = rule_name
WHERE rule_name IN ('check in mail', 'missing template') ORDER BY rule_firing_id, rule_name;

-- cs.apply_rule with as_of controls the day: the same day queues nothing
-- more, the next day queues a second message.
SELECT cs.apply_rule(rule_id, '2025-06-01 09:00+00') AS fired FROM cs.rule WHERE name = 'check in mail';
SELECT cs.apply_rule(rule_id, '2025-06-01 17:00+00') AS fired FROM cs.rule WHERE name = 'check in mail';
SELECT cs.apply_rule(rule_id, '2025-06-02 09:00+00') AS fired FROM cs.rule WHERE name = 'check in mail';
SELECT right(idempotency_key, 20) AS key_end, status FROM cs.email_outbox
WHERE idempotency_key LIKE '%2025-06-0%' ORDER BY outbox_id;

--
-- set_attribute
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('flag health', 'account_updated',
    '{"fact": "attributes.do", "eq": "attribute"}',
    '[{"action": "set_attribute", "key": "health", "value": {"score": 40, "flags": ["low"]}}]');
UPDATE cs.account SET attributes = '{"do": "attribute", "keep": 1}' WHERE account_id = 7;
SELECT attributes FROM cs.account WHERE account_id = 7;
-- The change raises account_updated again. The second firing finds the
-- value already set and changes nothing, which ends the chain.
SELECT rule_name, account, depth, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'flag health';

--
-- start_playbook
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('save account', 'account_updated',
    '{"fact": "attributes.do", "eq": "playbook"}',
    '[{"action": "start_playbook", "playbook": "save_account"}]');
UPDATE cs.account SET attributes = '{"do": "playbook"}' WHERE account_id = 8;
UPDATE cs.account SET tier = 'gold' WHERE account_id = 8;
SELECT playbook, status FROM cs.playbook_request ORDER BY playbook_request_id;
-- Once the playbook runner has started it, the next firing requests it again.
UPDATE cs.playbook_request SET status = 'started';
UPDATE cs.account SET tier = 'silver' WHERE account_id = 8;
SELECT playbook, status FROM cs.playbook_request ORDER BY playbook_request_id;
SELECT rule_name, account, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'save account';

--
-- cs.rule_effect: which rule, version and facts made a row.
--
SELECT e.rule_name, e.rule_version, e.event, e.action, e.result, e.facts
FROM cs.rule_effect AS e
JOIN cs.alert AS al ON e.target_kind = 'alert' AND e.target_id = al.alert_id
WHERE al.status = 'open';
SELECT e.rule_name, e.rule_version, e.event, e.action, e.result
FROM cs.rule_effect AS e
JOIN cs.email_outbox AS o ON e.target_kind = 'email' AND e.target_id = o.outbox_id
WHERE o.account_id = 5 AND o.idempotency_key LIKE '%2025-06-02%';
SELECT e.rule_name, e.rule_version, e.event, e.action, e.result, e.fired_by = current_user AS by_me
FROM cs.rule_effect AS e
JOIN cs.phase_history AS h ON e.target_kind = 'phase_change' AND e.target_id = h.phase_history_id
WHERE h.account_id = 2;

--
-- An action that fails on data is rolled back alone, with a WARNING, and
-- recorded as failed; the change that fired the rule commits. An account
-- created in the future cannot enter a phase before it was created.
--
INSERT INTO cs.account (account_id, external_id, name, created_at) VALUES
    (9, 'future', 'Future Co', now() + interval '10 days');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('future move', 'account_updated',
    '{"fact": "attributes.do", "eq": "future"}',
    '[{"action": "move_phase", "phase": "Risk"}, {"action": "start_playbook", "playbook": "after_failure"}]');
UPDATE cs.account SET attributes = '{"do": "future"}', tier = 'platinum' WHERE account_id = 9;
SELECT a.tier, a.attributes, p.name AS phase FROM cs.account AS a JOIN cs.phase AS p USING (phase_id)
WHERE a.account_id = 9;
SELECT playbook, status FROM cs.playbook_request WHERE account_id = 9;
SELECT rule_name, account, action, result, target_kind, detail FROM pg_temp.effects WHERE rule_name = 'future move';
SELECT count(*) AS history_rows FROM cs.phase_history WHERE account_id = 9 AND changed_by LIKE 'rule %';

-- Other errors, such as this one from a trigger, are not caught: the
-- statement fails as a whole, and the session goes on.
CREATE FUNCTION public.rule_actions_refuse_playbook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'playbooks are switched off' USING ERRCODE = 'feature_not_supported';
END;
$$;
CREATE TRIGGER refuse_playbook BEFORE INSERT ON cs.playbook_request
    FOR EACH ROW EXECUTE FUNCTION public.rule_actions_refuse_playbook();
\set VERBOSITY terse
UPDATE cs.account SET attributes = '{"do": "playbook"}', tier = 'stone' WHERE account_id = 7;
\set VERBOSITY default
SELECT tier, attributes ->> 'do' AS do FROM cs.account WHERE account_id = 7;
SELECT count(*) AS firings_for_account_7 FROM cs.rule_firing WHERE account_id = 7 AND rule_name = 'save account';
DROP TRIGGER refuse_playbook ON cs.playbook_request;
DROP FUNCTION public.rule_actions_refuse_playbook();
