-- Rule conditions as the triggers evaluate them: every operator and
-- all/any/not on account, usage and contract facts, each with a case that
-- fires and one that does not. Facts without a value: a comparison with
-- one is false, "ne" too, and "not" of it is true. Attributes are read as
-- the type of the value they are compared with.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- The rules are added disabled, with a harmless action, so that only
-- their firings in cs.rule_firing show that the condition held.
\set probe '[{"action": "start_playbook", "playbook": "condition_check"}]'

-- Enables the rules of one section ("account eq" is in section
-- "account") and disables the others.
CREATE PROCEDURE pg_temp.enable_section(section text)
LANGUAGE sql AS $$
    UPDATE cs.rule SET enabled = (name LIKE section || ' %')
    WHERE enabled <> (name LIKE section || ' %');
$$;

-- The accounts each rule of a section fired for, '-' for none.
CREATE FUNCTION pg_temp.fired(section text)
RETURNS TABLE (rule text, fired_for text)
LANGUAGE sql AS $$
    SELECT r.name, coalesce(string_agg(a.name, ', ' ORDER BY a.name), '-')
    FROM cs.rule AS r
    LEFT JOIN cs.rule_firing AS f ON f.rule_id = r.rule_id
    LEFT JOIN cs.account AS a ON a.account_id = f.account_id
    WHERE r.name LIKE section || ' %'
    GROUP BY r.rule_id, r.name
    ORDER BY r.rule_id;
$$;

-- Two accounts: the first satisfies the conditions that "fire", the
-- second does not. Acme has no category, and neither account has an
-- owner.
INSERT INTO cs.account (account_id, external_id, name, segment, category, tier, attributes) VALUES
    (1, 'acme', 'Acme Yes', 'smb', NULL, 'gold', '{"seats": 10, "plan": "pro", "beta": true}'),
    (2, 'beta', 'Beta No', 'mid', 'retail', 'bronze', '{"seats": "ten", "plan": "basic", "beta": "true"}');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months) VALUES
    (1, current_date - 100, current_date + 265, 100, 10, 12),
    (2, current_date - 100, current_date + 265, 250, 10, 12);

-- Comparisons of account facts, on account_updated.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('account eq', '{"fact": "segment", "eq": "smb"}'),
    ('account ne', '{"fact": "segment", "ne": "smb"}'),
    ('account lt', '{"fact": "arr", "lt": 250}'),
    ('account lt at the value', '{"fact": "arr", "lt": 100}'),
    ('account le', '{"fact": "arr", "le": 100}'),
    ('account gt', '{"fact": "arr", "gt": 100}'),
    ('account ge', '{"fact": "arr", "ge": 250}'),
    ('account gt text', '{"fact": "tier", "gt": "c"}'),
    ('account in', '{"fact": "tier", "in": ["gold", "silver"]}'),
    ('account in numbers', '{"fact": "arr", "in": [250, 300]}'),
    ('account between low bound', '{"fact": "arr", "between": [100, 200]}'),
    ('account between high bound', '{"fact": "arr", "between": [101, 250]}'),
    ('account between text', '{"fact": "tier", "between": ["a", "c"]}'),
    ('account is_null true', '{"fact": "category", "is_null": true}'),
    ('account is_null false', '{"fact": "category", "is_null": false}'),
    ('account matches', '{"fact": "name", "matches": "^Acme"}'),
    ('account matches is case-sensitive', '{"fact": "name", "matches": "^acme"}'),
    ('account matches inside', '{"fact": "name", "matches": "ta N"}'),
    ('account all', '{"all": [{"fact": "segment", "eq": "smb"}, {"fact": "arr", "lt": 200}]}'),
    ('account all one fails', '{"all": [{"fact": "segment", "eq": "smb"}, {"fact": "arr", "gt": 200}]}'),
    ('account all empty', '{"all": []}'),
    ('account any', '{"any": [{"fact": "segment", "eq": "none"}, {"fact": "tier", "eq": "bronze"}]}'),
    ('account any empty', '{"any": []}'),
    ('account not', '{"not": {"fact": "segment", "eq": "smb"}}'),
    ('account nested', '{"all": [{"any": [{"fact": "tier", "eq": "gold"}, {"fact": "tier", "eq": "silver"}]},
                                 {"not": {"fact": "category", "is_null": false}}]}')
) AS r(name, condition);
CALL pg_temp.enable_section('account');
UPDATE cs.account SET tier = tier WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('account');

-- Facts without a value. Acme has no category and neither account has an
-- owner: a comparison with no value is false, "ne" included, and "not"
-- turns that false into true.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('null eq', '{"fact": "category", "eq": "retail"}'),
    ('null ne', '{"fact": "category", "ne": "retail"}'),
    ('null lt', '{"fact": "category", "lt": "zzz"}'),
    ('null in', '{"fact": "category", "in": ["retail", "food"]}'),
    ('null matches', '{"fact": "category", "matches": ".*"}'),
    ('null not eq', '{"not": {"fact": "category", "eq": "retail"}}'),
    ('null not ne', '{"not": {"fact": "category", "ne": "retail"}}'),
    ('null owner ne', '{"fact": "owner_role", "ne": "csm"}'),
    ('null owner not eq', '{"not": {"fact": "owner_role", "eq": "csm"}}'),
    ('null owner is_null', '{"fact": "owner_role", "is_null": true}'),
    ('null any with one known', '{"any": [{"fact": "category", "eq": "retail"}, {"fact": "segment", "eq": "smb"}]}')
) AS r(name, condition);
CALL pg_temp.enable_section('null');
UPDATE cs.account SET tier = tier WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('null');

-- Attributes take the type of what they are compared with. Acme's seats
-- is the number 10 and beta the boolean true; Beta's are the strings
-- "ten" and "true". A value of another type counts as no value.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('attribute number gt', '{"fact": "attributes.seats", "gt": 5}'),
    ('attribute number ne', '{"fact": "attributes.seats", "ne": 11}'),
    ('attribute number in', '{"fact": "attributes.seats", "in": [10, 20]}'),
    ('attribute string eq', '{"fact": "attributes.seats", "eq": "ten"}'),
    ('attribute string matches', '{"fact": "attributes.plan", "matches": "^pro"}'),
    ('attribute boolean eq', '{"fact": "attributes.beta", "eq": true}'),
    ('attribute boolean ne', '{"fact": "attributes.beta", "ne": false}'),
    ('attribute string of boolean', '{"fact": "attributes.beta", "eq": "true"}'),
    ('attribute number is not null', '{"fact": "attributes.seats", "is_null": false}'),
    ('attribute missing eq', '{"fact": "attributes.missing", "eq": 1}'),
    ('attribute missing is_null', '{"fact": "attributes.missing", "is_null": true}'),
    ('attribute missing not eq', '{"not": {"fact": "attributes.missing", "eq": 1}}')
) AS r(name, condition);
CALL pg_temp.enable_section('attribute');
UPDATE cs.account SET tier = tier WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('attribute');

-- A JSON null counts as no value: the rules on the missing key fire for
-- Acme a second time, as they did for the absent key.
UPDATE cs.account SET attributes = attributes || '{"missing": null}' WHERE account_id = 1;
SELECT * FROM pg_temp.fired('attribute') WHERE rule LIKE 'attribute missing%';

-- Change operators on account_updated compare the old row with the new.
-- Both accounts start with 10 seats; Acme goes to 16 (+6, +60 %) and
-- changes segment, Beta goes to 12 (+2, +20 %).
CALL pg_temp.enable_section('none');
UPDATE cs.account SET attributes = attributes || '{"seats": 10}' WHERE account_id IN (1, 2);
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('rise changed', '{"fact": "segment", "changed": true}'),
    ('rise not changed', '{"fact": "segment", "changed": false}'),
    ('rise increased_by', '{"fact": "attributes.seats", "increased_by": 5}'),
    ('rise increased_by exactly', '{"fact": "attributes.seats", "increased_by": 6}'),
    ('rise increased_by too much', '{"fact": "attributes.seats", "increased_by": 7}'),
    ('rise increased_by percent', '{"fact": "attributes.seats", "increased_by": {"percent": 50}}'),
    ('rise increased_by percent exactly', '{"fact": "attributes.seats", "increased_by": {"percent": 20}}'),
    ('rise decreased_by', '{"fact": "attributes.seats", "decreased_by": 1}'),
    ('rise crossed_above', '{"fact": "attributes.seats", "crossed_above": 15}'),
    ('rise crossed_above from the value', '{"fact": "attributes.seats", "crossed_above": 10}'),
    ('rise crossed_below', '{"fact": "attributes.seats", "crossed_below": 15}')
) AS r(name, condition);
CALL pg_temp.enable_section('rise');
UPDATE cs.account
SET segment = CASE account_id WHEN 1 THEN 'enterprise' ELSE segment END,
    attributes = attributes || CASE account_id WHEN 1 THEN '{"seats": 16}'::jsonb ELSE '{"seats": 12}' END
WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('rise');

-- Then Acme falls from 16 to 8 (-8, -50 %) and Beta from 12 to 11.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('fall decreased_by', '{"fact": "attributes.seats", "decreased_by": 5}'),
    ('fall decreased_by percent', '{"fact": "attributes.seats", "decreased_by": {"percent": 50}}'),
    ('fall decreased_by percent too much', '{"fact": "attributes.seats", "decreased_by": {"percent": 51}}'),
    ('fall increased_by', '{"fact": "attributes.seats", "increased_by": 1}'),
    ('fall crossed_below', '{"fact": "attributes.seats", "crossed_below": 10}'),
    ('fall crossed_below from the value', '{"fact": "attributes.seats", "crossed_below": 12}'),
    ('fall crossed_above', '{"fact": "attributes.seats", "crossed_above": 5}')
) AS r(name, condition);
CALL pg_temp.enable_section('fall');
UPDATE cs.account
SET attributes = attributes || CASE account_id WHEN 1 THEN '{"seats": 8}'::jsonb ELSE '{"seats": 11}' END
WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('fall');

-- A value that changes type has no number before or after, so no
-- numeric change fires. "changed" compares the JSON values, which differ.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'account_updated', condition::jsonb, :'probe', false FROM (VALUES
    ('retype increased_by', '{"fact": "attributes.seats", "increased_by": 1}'),
    ('retype decreased_by', '{"fact": "attributes.seats", "decreased_by": 1}'),
    ('retype changed', '{"fact": "attributes.seats", "changed": true}')
) AS r(name, condition);
CALL pg_temp.enable_section('retype');
UPDATE cs.account
SET attributes = attributes || CASE account_id WHEN 1 THEN '{"seats": "many"}'::jsonb ELSE '{"seats": 11}' END
WHERE account_id IN (1, 2);
SELECT * FROM pg_temp.fired('retype');

-- Usage facts on usage_recorded. An inserted row has no old row, so the
-- old values are the new ones: nothing changed.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'usage_recorded', condition::jsonb, :'probe', false FROM (VALUES
    ('inserted lt', '{"fact": "usage.active_users", "lt": 5}'),
    ('inserted eq', '{"fact": "usage.licenses_used", "eq": 20}'),
    ('inserted between', '{"fact": "usage.events", "between": [100, 100]}'),
    ('inserted with account fact', '{"all": [{"fact": "usage.active_users", "ge": 4}, {"fact": "tier", "eq": "gold"}]}'),
    ('inserted changed', '{"fact": "usage.events", "changed": true}'),
    ('inserted not changed', '{"fact": "usage.events", "changed": false}'),
    ('inserted increased_by', '{"fact": "usage.active_users", "increased_by": 1}')
) AS r(name, condition);
CALL pg_temp.enable_section('inserted');
INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used, events) VALUES
    (1, current_date - 1, 4, 20, 100),
    (2, current_date - 1, 10, 20, 100);
SELECT * FROM pg_temp.fired('inserted');

-- An update: Acme's users go from 4 to 8 (+100 %) and its licenses used
-- from 20 to 9; Beta's users from 10 to 9 (-10 %) and its events from 100
-- to 150.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'usage_recorded', condition::jsonb, :'probe', false FROM (VALUES
    ('usage increased_by', '{"fact": "usage.active_users", "increased_by": 4}'),
    ('usage increased_by percent', '{"fact": "usage.active_users", "increased_by": {"percent": 100}}'),
    ('usage decreased_by', '{"fact": "usage.active_users", "decreased_by": 1}'),
    ('usage decreased_by percent', '{"fact": "usage.active_users", "decreased_by": {"percent": 5}}'),
    ('usage crossed_below', '{"fact": "usage.licenses_used", "crossed_below": 10}'),
    ('usage crossed_above', '{"fact": "usage.events", "crossed_above": 120}'),
    ('usage changed', '{"fact": "usage.events", "changed": true}'),
    ('usage not changed', '{"fact": "usage.events", "changed": false}')
) AS r(name, condition);
CALL pg_temp.enable_section('usage');
UPDATE cs.usage_daily
SET active_users = CASE account_id WHEN 1 THEN 8 ELSE 9 END,
    licenses_used = CASE account_id WHEN 1 THEN 9 ELSE licenses_used END,
    events = CASE account_id WHEN 1 THEN events ELSE 150 END
WHERE day = current_date - 1;
SELECT * FROM pg_temp.fired('usage');

-- A percentage of nothing is not a change: from 0 users to 5 increases
-- by 5, but by no percentage.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'usage_recorded', condition::jsonb, :'probe', false FROM (VALUES
    ('zero increased_by', '{"fact": "usage.active_users", "increased_by": 5}'),
    ('zero increased_by percent', '{"fact": "usage.active_users", "increased_by": {"percent": 1}}')
) AS r(name, condition);
INSERT INTO cs.usage_daily (account_id, day, active_users) VALUES (1, current_date, 0);
CALL pg_temp.enable_section('zero');
UPDATE cs.usage_daily SET active_users = 5 WHERE account_id = 1 AND day = current_date;
SELECT * FROM pg_temp.fired('zero');

-- Contract facts on contract_changed, for a new contract of each account:
-- Acme's renews automatically and ends in 45 days, Beta's does not and
-- ends in 200 days.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'contract_changed', condition::jsonb, :'probe', false FROM (VALUES
    ('signed eq boolean', '{"fact": "contract.auto_renew", "eq": true}'),
    ('signed ne boolean', '{"fact": "contract.auto_renew", "ne": true}'),
    ('signed between days', '{"fact": "contract.days_to_end", "between": [30, 60]}'),
    ('signed ge', '{"fact": "contract.arr", "ge": 5000}'),
    ('signed status', '{"fact": "contract.status", "eq": "active"}'),
    ('signed not renewed', '{"not": {"fact": "contract.status", "in": ["renewed", "churned"]}}')
) AS r(name, condition);
CALL pg_temp.enable_section('signed');
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months, auto_renew) VALUES
    (1, current_date - 320, current_date + 45, 1000, 10, 12, true),
    (2, current_date - 165, current_date + 200, 5000, 50, 12, false);
SELECT * FROM pg_temp.fired('signed');

-- An update of both: Acme's ARR rises from 1000 to 1500 (+50 %) and its
-- licenses from 10 to 12; Beta's ARR falls from 5000 to 2500 (-50 %) and
-- the contract churns.
INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT name, 'contract_changed', condition::jsonb, :'probe', false FROM (VALUES
    ('amended increased_by percent', '{"fact": "contract.arr", "increased_by": {"percent": 50}}'),
    ('amended increased_by', '{"fact": "contract.arr", "increased_by": 500}'),
    ('amended decreased_by percent', '{"fact": "contract.arr", "decreased_by": {"percent": 50}}'),
    ('amended crossed_above', '{"fact": "contract.licenses", "crossed_above": 11}'),
    ('amended crossed_below', '{"fact": "contract.arr", "crossed_below": 3000}'),
    ('amended status changed', '{"fact": "contract.status", "changed": true}'),
    ('amended status in', '{"fact": "contract.status", "in": ["renewed", "churned"]}'),
    ('amended auto_renew changed', '{"fact": "contract.auto_renew", "changed": true}')
) AS r(name, condition);
CALL pg_temp.enable_section('amended');
UPDATE cs.contract
SET arr = CASE account_id WHEN 1 THEN 1500 ELSE 2500 END,
    licenses = CASE account_id WHEN 1 THEN 12 ELSE licenses END,
    status = CASE account_id WHEN 1 THEN status ELSE 'churned' END
WHERE arr IN (1000, 5000);
SELECT * FROM pg_temp.fired('amended');
