-- Rule validation: every kind of mistake in a rule is rejected when the
-- rule is saved, with the JSON path, what was found there and a hint.
-- Accepted rules, version and updated_at on UPDATE, warnings for actions
-- that name a missing phase, role or template, and the vocabulary.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
\set VERBOSITY default

-- A valid action list reused by the condition cases below.
\set alert '[{"action": "raise_alert", "kind": "check", "message": "m"}]'

-- Event.
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_event', 'account_deleted', :'alert');
\set VERBOSITY terse
INSERT INTO cs.rule (name, event, actions) VALUES ('null_event', NULL, :'alert');
\set VERBOSITY default

-- The condition must be an object of a known form.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('condition_array', 'account_updated', '[1]', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('condition_string', 'account_updated', '"arr > 5"', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('condition_empty', 'account_updated', '{}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('all_not_array', 'account_updated', '{"all": {"fact": "arr", "gt": 0}}', :'alert');

-- Facts: unknown, not a string, not known for the event, keyed without a
-- key or with a bad key. The path points into the nested condition.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('unknown_fact', 'account_updated',
    '{"all": [{"fact": "arr", "gt": 1}, {"fact": "revenue", "gt": 1}]}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('fact_number', 'account_updated', '{"fact": 7, "gt": 1}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('fact_wrong_event', 'account_updated',
    '{"fact": "usage.active_users", "lt": 5}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('contract_fact_on_usage', 'usage_recorded',
    '{"fact": "contract.arr", "gt": 5}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('threshold_not_renewal', 'contract_changed',
    '{"fact": "renewal.threshold", "eq": 30}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('attribute_no_key', 'account_updated',
    '{"fact": "attributes", "eq": "gold"}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('attribute_bad_key', 'account_updated',
    '{"fact": "attributes.plan name", "eq": "gold"}', :'alert');

-- Operators: unknown, two in one comparison, none.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('unknown_operator', 'account_updated',
    '{"fact": "arr", "greater": 1}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('two_operators', 'account_updated',
    '{"fact": "arr", "gt": 1, "lt": 5}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('no_operator', 'account_updated',
    '{"fact": "arr"}', :'alert');

-- Operands of the wrong type.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('number_as_string', 'account_updated',
    '{"fact": "arr", "gt": "100"}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('string_as_number', 'account_updated',
    '{"fact": "segment", "eq": 5}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('ordered_boolean', 'contract_changed',
    '{"fact": "contract.auto_renew", "lt": true}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('null_operand', 'account_updated',
    '{"fact": "attributes.plan", "eq": null}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('in_mixed_types', 'account_updated',
    '{"fact": "segment", "in": ["smb", 5]}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('matches_number', 'account_updated',
    '{"fact": "arr", "matches": "^1"}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('is_null_string', 'account_updated',
    '{"fact": "category", "is_null": "yes"}', :'alert');

-- "in" needs a non-empty list, and "between" needs [low, high].
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('empty_in', 'account_updated',
    '{"fact": "segment", "in": []}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('in_not_list', 'account_updated',
    '{"fact": "segment", "in": "smb"}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('between_reversed', 'account_updated',
    '{"fact": "arr", "between": [20, 10]}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('between_reversed_text', 'account_updated',
    '{"fact": "tier", "between": ["silver", "bronze"]}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('between_three', 'account_updated',
    '{"fact": "arr", "between": [1, 2, 3]}', :'alert');

-- A regular expression that does not compile.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('bad_regex', 'account_updated',
    '{"fact": "name", "matches": "(["}', :'alert');

-- Change operators need an event with an old row, and a fact with an old
-- value.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('changed_on_created', 'account_created',
    '{"fact": "segment", "changed": true}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('crossed_on_renewal', 'renewal_due',
    '{"fact": "contract.arr", "crossed_below": 100}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('changed_query_fact', 'account_updated',
    '{"fact": "arr", "increased_by": 10}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('changed_days', 'account_updated',
    '{"fact": "days_in_phase", "changed": true}', :'alert');
-- Usage and contract events change another row than the account, so an
-- account fact has no old value there.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('changed_segment_on_usage', 'usage_recorded',
    '{"fact": "segment", "changed": true}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('attribute_increase_on_contract', 'contract_changed',
    '{"fact": "attributes.seats", "increased_by": 1}', :'alert');

-- increased_by and decreased_by: an amount above zero, or {"percent": p}.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('increase_zero', 'usage_recorded',
    '{"fact": "usage.active_users", "increased_by": 0}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('decrease_negative', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": -5}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('percent_zero', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": {"percent": 0}}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('percent_string', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": {"percent": "20"}}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('percent_over_100', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": {"percent": 101}}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('percent_extra_key', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": {"percent": 20, "days": 7}}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('percent_misspelled', 'usage_recorded',
    '{"fact": "usage.active_users", "decreased_by": {"pct": 20}}', :'alert');
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('increase_text_fact', 'account_updated',
    '{"fact": "segment", "increased_by": 1}', :'alert');

-- Nesting deeper than 32 levels (32 "not" and the comparison are 33).
INSERT INTO cs.rule (name, event, condition, actions)
VALUES ('nested_33', 'account_updated',
        (repeat('{"not": ', 32) || '{"fact": "arr", "gt": 0}' || repeat('}', 32))::jsonb, :'alert');

-- Actions: an array of 1 to 20 objects.
INSERT INTO cs.rule (name, event, actions) VALUES ('actions_object', 'account_updated',
    '{"action": "raise_alert", "kind": "check", "message": "m"}');
INSERT INTO cs.rule (name, event, actions) VALUES ('actions_empty', 'account_updated', '[]');
INSERT INTO cs.rule (name, event, actions) VALUES ('actions_too_many', 'account_updated',
    (SELECT jsonb_agg('{"action": "start_playbook", "playbook": "p"}'::jsonb) FROM generate_series(1, 21)));
INSERT INTO cs.rule (name, event, actions) VALUES ('action_string', 'account_updated', '["raise_alert"]');
INSERT INTO cs.rule (name, event, actions) VALUES ('action_no_name', 'account_updated', '[{"kind": "check"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('unknown_action', 'account_updated',
    '[{"action": "send_sms", "to": "owner"}]');

-- Parameters: unknown, missing, empty, not a string.
INSERT INTO cs.rule (name, event, actions) VALUES ('unknown_param', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "message": "m", "color": "red"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('missing_param', 'account_updated',
    '[{"action": "start_playbook", "playbook": "p"}, {"action": "raise_alert", "kind": "check"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('empty_param', 'account_updated',
    '[{"action": "move_phase", "phase": ""}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('number_param', 'account_updated',
    '[{"action": "start_playbook", "playbook": 7}]');

-- Parameters with a fixed set of values.
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_severity', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "severity": "urgent", "message": "m"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_strategy', 'account_updated',
    '[{"action": "assign_owner", "role": "csm", "strategy": "random"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_recipient', 'account_updated',
    '[{"action": "queue_email", "template": "t", "to": "everyone"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_period', 'account_updated',
    '[{"action": "queue_email", "template": "t", "period": "hourly"}]');

-- Alert kinds and attribute keys: 1 to 63 letters, digits, '_' or '-'.
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_alert_kind', 'account_updated',
    '[{"action": "raise_alert", "kind": "low usage", "message": "m"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('long_alert_kind', 'account_updated',
    jsonb_build_array(jsonb_build_object('action', 'raise_alert', 'kind', repeat('k', 64), 'message', 'm')));
INSERT INTO cs.rule (name, event, actions) VALUES ('bad_attribute_key', 'account_updated',
    '[{"action": "set_attribute", "key": "health.score", "value": 1}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('missing_value', 'account_updated',
    '[{"action": "set_attribute", "key": "health"}]');

-- Merge fields in alert messages: closed, naming a fact of the event.
INSERT INTO cs.rule (name, event, actions) VALUES ('unclosed_merge_field', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "message": "{{name}} has {{arr users"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('empty_merge_field', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "message": "Hello {{ }}"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('unknown_merge_field', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "message": "{{name}} earns {{revenue}}"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('merge_field_wrong_event', 'account_updated',
    '[{"action": "raise_alert", "kind": "check", "message": "{{usage.active_users}} users"}]');

-- Nothing was saved.
SELECT count(*) AS saved_rules FROM cs.rule;

-- Accepted rules. The condition defaults to {"all": []}, and the cooldown,
-- priority and notes to 0, 100 and ''.
INSERT INTO cs.rule (name, event, actions) VALUES ('always_on_create', 'account_created',
    '[{"action": "start_playbook", "playbook": "welcome"}]');
INSERT INTO cs.rule (name, event, condition, actions, cooldown, priority) VALUES ('low_usage', 'usage_recorded',
    '{"all": [{"fact": "usage.active_users", "lt": 5}, {"not": {"fact": "segment", "in": ["internal", "test"]}}]}',
    '[{"action": "raise_alert", "kind": "low_usage", "severity": "high", "message": "{{name}} has {{usage.active_users}} users"}]',
    '7 days', 10);
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('every_operator', 'usage_recorded',
    '{"any": [{"fact": "usage.active_users", "eq": 1}, {"fact": "usage.active_users", "ne": 1},
              {"fact": "usage.active_users", "le": 1}, {"fact": "usage.active_users", "ge": 1},
              {"fact": "usage.active_users", "gt": 1}, {"fact": "usage.active_users", "between": [1, 1]},
              {"fact": "usage.active_users", "in": [1, 2]}, {"fact": "category", "is_null": true},
              {"fact": "name", "matches": "^A"}, {"fact": "usage.events", "changed": false},
              {"fact": "usage.events", "increased_by": {"percent": 12.5}},
              {"fact": "usage.events", "decreased_by": 3},
              {"fact": "usage.licenses_used", "crossed_below": 10},
              {"fact": "usage.licenses_used", "crossed_above": 10},
              {"fact": "attributes.vip", "eq": true}, {"fact": "open_alerts.low_usage", "eq": 0}]}',
    '[{"action": "set_attribute", "key": "checked", "value": {"by": "rule", "n": [1, 2]}},
      {"action": "queue_email", "template": "t", "to": "owner", "period": "once"},
      {"action": "assign_owner", "role": "csm"}]');
-- 31 "not" and the comparison are 32 levels, the most allowed.
INSERT INTO cs.rule (name, event, condition, actions)
VALUES ('nested_32', 'account_updated',
        (repeat('{"not": ', 31) || '{"fact": "arr", "gt": 0}' || repeat('}', 31))::jsonb, :'alert');
-- Change operators on columns of the changed row.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('changes', 'account_updated',
    '{"all": [{"fact": "segment", "changed": true}, {"fact": "attributes.seats", "increased_by": 5}]}', :'alert');
SELECT name, event, cooldown, priority, enabled, version, notes = '' AS no_notes
FROM cs.rule ORDER BY rule_id;
SELECT condition FROM cs.rule WHERE name = 'always_on_create';

-- Actions that name a phase, team role or template that does not exist
-- are saved with a WARNING: a restore may load rules before those rows.
INSERT INTO cs.rule (name, event, actions) VALUES ('missing_targets', 'phase_overdue',
    '[{"action": "move_phase", "phase": "Nowhere"}, {"action": "assign_owner", "role": "wizard"},
      {"action": "queue_email", "template": "no_such_template"}]');
INSERT INTO cs.rule (name, event, actions) VALUES ('existing_targets', 'phase_overdue',
    '[{"action": "move_phase", "phase": "Risk"}, {"action": "assign_owner", "role": "csm"}]');
SELECT name FROM cs.rule WHERE name LIKE '%_targets' ORDER BY name;

-- UPDATE raises the version by one per change, whatever version the
-- statement sets, and sets updated_at to the statement time.
SELECT version, updated_at = created_at AS unchanged_since_insert FROM cs.rule WHERE name = 'low_usage';
UPDATE cs.rule SET priority = 5 WHERE name = 'low_usage';
SELECT version, updated_at > created_at AS updated_later, updated_at <= statement_timestamp() AS not_in_future
FROM cs.rule WHERE name = 'low_usage';
UPDATE cs.rule SET version = 1, notes = 'asked for by the CS lead' WHERE name = 'low_usage';
SELECT version, notes FROM cs.rule WHERE name = 'low_usage';

-- An UPDATE to an invalid rule is rejected and leaves the row as it was.
UPDATE cs.rule SET condition = '{"fact": "usage.active_users", "lt": "five"}' WHERE name = 'low_usage';
SELECT version, condition -> 'all' -> 0 AS first_condition FROM cs.rule WHERE name = 'low_usage';

-- Table constraints: unique, non-blank names and a cooldown in range.
\set VERBOSITY terse
INSERT INTO cs.rule (name, event, actions) VALUES ('low_usage', 'account_created', :'alert');
INSERT INTO cs.rule (name, event, actions) VALUES ('  ', 'account_created', :'alert');
INSERT INTO cs.rule (name, event, actions, cooldown) VALUES ('negative_cooldown', 'account_created', :'alert', '-1 day');
\set VERBOSITY default

-- The vocabulary: events, facts, operators and actions.
SELECT kind, count(*) FROM cs.rule_vocabulary() GROUP BY kind ORDER BY kind;
SELECT name, applies_to FROM cs.rule_vocabulary() WHERE kind IN ('event', 'action') ORDER BY kind DESC, name;
SELECT name, applies_to FROM cs.rule_vocabulary() WHERE kind = 'fact' AND applies_to <> 'all events' ORDER BY name;

-- Nesting deeper than cJSON parses is reported as nesting, not as invalid
-- JSON.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('deep_json', 'account_updated',
    (repeat('{"not": ', 1100) || '{"fact": "tier", "eq": "x"}' || repeat('}', 1100))::jsonb,
    '[{"action": "start_playbook", "playbook": "p"}]');
-- A number beyond double precision.
INSERT INTO cs.rule (name, event, condition, actions) VALUES ('huge_number', 'account_updated',
    '{"fact": "arr", "gt": 1e309}', '[{"action": "start_playbook", "playbook": "p"}]');
-- A parameter longer than 4000 bytes.
INSERT INTO cs.rule (name, event, actions) VALUES ('long_message', 'account_updated',
    jsonb_build_array(jsonb_build_object('action', 'raise_alert', 'kind', 'k', 'message', repeat('x', 4001))));
