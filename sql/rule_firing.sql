-- Rule firing: cooldowns, priority order, disabled and edited rules,
-- chains of rules and their depth limit, multi-row statements, the events
-- of an INSERT and of a phase change, and who a firing is recorded for.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
DROP ROLE IF EXISTS regress_rule_admin;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set probe '[{"action": "start_playbook", "playbook": "firing_check"}]'

-- The firings of rules whose name starts with a prefix, in order.
CREATE FUNCTION pg_temp.firings(prefix text)
RETURNS TABLE (rule text, account text, event text, depth integer, version integer)
LANGUAGE sql AS $$
    SELECT f.rule_name, a.name, f.event, f.depth, f.rule_version
    FROM cs.rule_firing AS f JOIN cs.account AS a USING (account_id)
    WHERE f.rule_name LIKE prefix || '%'
    ORDER BY f.rule_firing_id;
$$;

INSERT INTO cs.account (account_id, external_id, name, segment, created_at) VALUES
    (1, 'one', 'One', 'cooldown', '2024-06-01+00'),
    (2, 'two', 'Two', 'cooldown', '2024-06-01+00'),
    (3, 'three', 'Three', 'other', '2024-06-01+00');

--
-- Cooldown: a rule fires at most once per account within it. cs.apply_rule
-- takes the time of the firing, so the test controls it.
--
INSERT INTO cs.rule (name, event, condition, actions, cooldown) VALUES ('weekly', 'account_updated',
    '{"fact": "segment", "eq": "cooldown"}', :'probe', '7 days');
SELECT rule_id AS weekly_id FROM cs.rule WHERE name = 'weekly' \gset
SELECT cs.apply_rule(:weekly_id, '2025-01-01 00:00+00') AS fired;
SELECT cs.apply_rule(:weekly_id, '2025-01-04 12:00+00') AS fired_within;
SELECT cs.apply_rule(:weekly_id, '2025-01-07 23:59:59+00') AS fired_just_before;
SELECT cs.apply_rule(:weekly_id, '2025-01-08 00:00+00') AS fired_at_end;
SELECT a.name, c.last_fired_at FROM cs.rule_cooldown AS c JOIN cs.account AS a USING (account_id)
ORDER BY a.name;
SELECT account, count(*) AS firings FROM pg_temp.firings('weekly') GROUP BY account ORDER BY account;

-- In a trigger the time is the transaction's start: a second change
-- within the cooldown fires nothing, for the account that fired.
INSERT INTO cs.rule (name, event, condition, actions, cooldown) VALUES ('daily', 'account_updated',
    '{"fact": "segment", "eq": "cooldown"}', :'probe', '1 day');
UPDATE cs.account SET tier = 'a' WHERE account_id = 1;
UPDATE cs.account SET tier = 'b' WHERE account_id IN (1, 2);
UPDATE cs.account SET tier = 'c' WHERE account_id IN (1, 2);
SELECT account, count(*) AS firings FROM pg_temp.firings('daily') GROUP BY account ORDER BY account;
UPDATE cs.rule SET enabled = false WHERE name IN ('weekly', 'daily');

--
-- Priority: lowest first, ties in rule_id order, and disabled rules are not
-- evaluated.
--
INSERT INTO cs.rule (name, event, condition, actions, priority) VALUES
    ('order b, priority 20', 'account_updated', '{"fact": "name", "eq": "Three"}', :'probe', 20),
    ('order a, priority 10', 'account_updated', '{"fact": "name", "eq": "Three"}', :'probe', 10),
    ('order c, priority 20', 'account_updated', '{"fact": "name", "eq": "Three"}', :'probe', 20);
INSERT INTO cs.rule (name, event, condition, actions, enabled) VALUES
    ('order d, disabled', 'account_updated', '{"fact": "name", "eq": "Three"}', :'probe', false);
UPDATE cs.account SET tier = 'x' WHERE account_id = 3;
SELECT rule, account FROM pg_temp.firings('order');

-- Enabling a rule, or changing one, applies from the next statement of
-- the same session. Each firing records the version that ran.
UPDATE cs.rule SET enabled = true WHERE name = 'order d, disabled';
UPDATE cs.rule SET priority = 5 WHERE name = 'order c, priority 20';
UPDATE cs.account SET tier = 'y' WHERE account_id = 3;
SELECT rule, version FROM pg_temp.firings('order') OFFSET 3;
UPDATE cs.rule SET enabled = false WHERE name LIKE 'order%';

--
-- Chains: an action that changes the account raises account_updated
-- again, one level deeper. This rule sets "ping" to 1 and then to 2, so
-- each firing fires it again. At pg_success.max_rule_depth the next
-- event is not evaluated, a WARNING names the chain, and the change that
-- started it commits.
--
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('ping', 'account_updated',
    '{"fact": "name", "eq": "One"}',
    '[{"action": "set_attribute", "key": "ping", "value": 1},
      {"action": "set_attribute", "key": "ping", "value": 2}]');
SET pg_success.max_rule_depth = 3;
UPDATE cs.account SET tier = 'chain' WHERE account_id = 1;
SELECT tier, attributes ->> 'ping' AS ping FROM cs.account WHERE account_id = 1;
SELECT f.depth, CASE WHEN f.fired_by = current_user THEN 'current user' ELSE f.fired_by END AS fired_by,
       f.actions -> 0 ->> 'result' AS set_1, f.actions -> 1 ->> 'result' AS set_2
FROM cs.rule_firing AS f WHERE f.rule_name = 'ping' ORDER BY f.rule_firing_id;
RESET pg_success.max_rule_depth;

-- The limit takes 1 to 100.
SET pg_success.max_rule_depth = 0;
SET pg_success.max_rule_depth = 101;
UPDATE cs.rule SET enabled = false WHERE name = 'ping';

--
-- Multi-row statements: a rule fires for each row.
--
INSERT INTO cs.rule (name, event, actions) VALUES ('rows created', 'account_created', :'probe');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('rows usage', 'usage_recorded',
    '{"fact": "usage.active_users", "gt": 10}', :'probe');
INSERT INTO cs.account (account_id, external_id, name) VALUES
    (11, 'bulk-11', 'Bulk 11'), (12, 'bulk-12', 'Bulk 12'), (13, 'bulk-13', 'Bulk 13');
INSERT INTO cs.usage_daily (account_id, day, active_users)
SELECT account_id, '2025-02-01', 5 FROM cs.account WHERE account_id BETWEEN 11 AND 13;
UPDATE cs.usage_daily SET active_users = active_users + account_id - 1 WHERE day = '2025-02-01';
SELECT rule, account, event FROM pg_temp.firings('rows');
UPDATE cs.rule SET enabled = false WHERE name LIKE 'rows%';

--
-- Events of an INSERT and of a phase change: an insert raises
-- account_created and phase_entered, an update raises account_updated and,
-- only when the phase changed, phase_entered.
--
INSERT INTO cs.rule (name, event, actions) VALUES
    ('event created', 'account_created', :'probe'),
    ('event updated', 'account_updated', :'probe'),
    ('event entered', 'phase_entered',
     '[{"action": "raise_alert", "kind": "entered", "message": "{{previous_phase}} to {{phase}}"}]');
INSERT INTO cs.account (account_id, external_id, name, created_at) VALUES (20, 'events', 'Events', '2025-01-01+00');
UPDATE cs.account SET tier = 'gold' WHERE account_id = 20;
UPDATE cs.account SET phase_id = (SELECT phase_id FROM cs.phase WHERE name = 'Risk') WHERE account_id = 20;
SELECT rule, event FROM pg_temp.firings('event');

-- A timed transition is a phase change too, and its firing is recorded
-- as made by the transition.
SELECT cs.run_phase_transitions('2025-01-31 00:00+00') AS moved;
UPDATE cs.account SET phase_id = 1, phase_entered_at = '2025-01-01+00' WHERE account_id = 20;
SELECT cs.run_phase_transitions('2025-01-31 00:00+00') AS moved;
SELECT f.rule_name, f.event, f.fired_by, f.fired_at, al.message
FROM cs.rule_firing AS f JOIN cs.alert AS al ON al.account_id = f.account_id AND al.kind = 'entered'
WHERE f.account_id = 20 AND f.rule_name = 'event entered'
ORDER BY f.rule_firing_id DESC LIMIT 1;
UPDATE cs.rule SET enabled = false WHERE name LIKE 'event%';

--
-- fired_by: the user whose change fired the rule, the rule whose action
-- made the change, or the sweep.
--
CREATE ROLE regress_rule_admin IN ROLE cs_admin;
INSERT INTO cs.rule (name, event, condition, actions) VALUES
    ('by user', 'account_updated', '{"fact": "name", "eq": "Two"}',
     '[{"action": "set_attribute", "key": "seen", "value": true}]'),
    ('by rule', 'account_updated', '{"fact": "attributes.seen", "eq": true}', :'probe'),
    ('by sweep', 'renewal_due', '{"fact": "name", "eq": "Two"}', :'probe');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) VALUES (2, '2024-06-01', '2025-06-01', 100, 12);
SET ROLE regress_rule_admin;
UPDATE cs.account SET tier = 'by user' WHERE account_id = 2;
RESET ROLE;
SELECT cs.run_renewal_due('2025-05-15 00:00+00') AS raised;
SELECT f.rule_name, f.event, f.depth, f.fired_by FROM cs.rule_firing AS f
WHERE f.rule_name LIKE 'by %' ORDER BY f.rule_firing_id;

DROP ROLE regress_rule_admin;
