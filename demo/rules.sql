-- Defines rules that raise red flags on the Telco customers and move risky,
-- renewing and loyal accounts to the Risk, Renewal and Advocacy phases.
-- Runs each account rule once over the loaded accounts with cs.apply_rule,
-- after a preview that must list the same accounts. Raises renewal_due
-- with the sweep. Then changes some accounts with a plain UPDATE, so that a
-- rule fires from the trigger, and prints alerts by kind and the top five
-- reasons.
--
-- Variables (psql -v): as_of, the fixed time the demo runs at. Run after
-- demo/load_telco.sql.

SET TIME ZONE 'UTC';

\echo
\echo '== Rules =='

-- Month-to-month fiber customers without tech support or online security
-- churn most often in this sample. The cooldown keeps the rule from firing
-- again inside its own chain (the phase move raises account_updated).
INSERT INTO cs.rule (name, event, priority, cooldown, condition, actions) VALUES
('fiber without support', 'account_updated', 10, '30 days',
 '{"all": [{"fact": "status", "eq": "active"},
           {"fact": "segment", "eq": "month-to-month/fiber"},
           {"fact": "attributes.tech_support", "eq": "No"},
           {"fact": "attributes.online_security", "eq": "No"}]}',
 '[{"action": "raise_alert", "kind": "churn_risk", "severity": "high",
    "message": "{{name}}: month-to-month fiber without tech support or security, {{attributes.tenure_months}} months"},
   {"action": "move_phase", "phase": "Risk"}]'),

('new electronic check payer', 'account_updated', 20, '30 days',
 '{"all": [{"fact": "status", "eq": "active"},
           {"fact": "attributes.payment_method", "eq": "Electronic check"},
           {"fact": "attributes.tenure_months", "lt": 12}]}',
 '[{"action": "raise_alert", "kind": "payment_risk", "severity": "medium",
    "message": "{{name}} pays by electronic check after {{attributes.tenure_months}} months"}]'),

('premium without add-ons', 'account_updated', 30, '30 days',
 '{"all": [{"fact": "status", "eq": "active"},
           {"fact": "tier", "eq": "premium"},
           {"not": {"fact": "attributes.online_backup", "eq": "Yes"}},
           {"not": {"fact": "attributes.device_protection", "eq": "Yes"}}]}',
 '[{"action": "raise_alert", "kind": "low_adoption", "severity": "low",
    "message": "{{name}} pays {{arr}} a year without backup or device protection"}]'),

('loyal two-year customer', 'account_updated', 40, '30 days',
 '{"all": [{"fact": "status", "eq": "active"},
           {"fact": "segment", "matches": "^two-year/"},
           {"fact": "attributes.tenure_months", "ge": 60},
           {"fact": "open_alerts", "eq": 0}]}',
 '[{"action": "move_phase", "phase": "Advocacy"}]'),

('renewal without auto-renew', 'renewal_due', 50, '0',
 '{"fact": "contract.auto_renew", "eq": false}',
 '[{"action": "raise_alert", "kind": "renewal_due", "severity": "medium",
    "message": "{{name}}: contract ends in {{contract.days_to_end}} days ({{renewal.threshold}}-day notice)"},
   {"action": "move_phase", "phase": "Renewal"}]'),

-- A chain: entering Risk tags the account.
('tag risk entry', 'phase_entered', 60, '0',
 '{"fact": "phase", "eq": "Risk"}',
 '[{"action": "set_attribute", "key": "at_risk_since", "value": "demo"}]');

SELECT name, event, cooldown FROM cs.rule ORDER BY priority;

\echo '== Preview of "fiber without support" against every account =='
SELECT count(*) AS accounts_it_would_fire_for
FROM cs.preview_rule((SELECT to_jsonb(r) FROM cs.rule AS r WHERE r.name = 'fiber without support'),
                     :'as_of');

-- Keep the preview's accounts to compare with what apply_rule does.
CREATE TEMP TABLE previewed AS
SELECT p.account_id
FROM cs.preview_rule((SELECT to_jsonb(r) FROM cs.rule AS r WHERE r.name = 'fiber without support'),
                     :'as_of') AS p;

\echo '== Backfill: each account_updated rule once over all accounts, as of' :as_of '=='
SELECT r.name, cs.apply_rule(r.rule_id, :'as_of') AS firings
FROM cs.rule AS r
WHERE r.event = 'account_updated'
ORDER BY r.priority;

SELECT CASE WHEN count(*) = 0 THEN 'the preview listed exactly the accounts that apply_rule fired for'
            ELSE 'MISMATCH between preview and apply_rule' END AS preview_check
FROM ((SELECT account_id FROM previewed
       EXCEPT SELECT account_id FROM cs.rule_firing WHERE rule_name = 'fiber without support')
      UNION ALL
      (SELECT account_id FROM cs.rule_firing WHERE rule_name = 'fiber without support'
       EXCEPT SELECT account_id FROM previewed)) AS difference;

\echo '== Renewal sweep as of' :as_of '=='
SELECT cs.run_renewal_due(:'as_of') AS renewal_events;

\echo '== A data change fires a rule from the trigger =='
-- Twenty month-to-month fiber customers cancel tech support and security.
UPDATE cs.account AS a
SET attributes = a.attributes || '{"tech_support": "No", "online_security": "No"}'
WHERE a.account_id IN (
    SELECT account_id FROM cs.account
    WHERE status = 'active' AND segment = 'month-to-month/fiber'
      AND attributes ->> 'tech_support' = 'Yes'
    ORDER BY account_id LIMIT 20);

SELECT rule_name, depth, count(*) AS firings
FROM cs.rule_firing
WHERE fired_at > :'as_of'
GROUP BY rule_name, depth
ORDER BY rule_name, depth;

\echo '== Open alerts by kind (cs.open_alerts) =='
SELECT kind, severity, count(*) AS alerts
FROM cs.open_alerts
GROUP BY kind, severity
ORDER BY alerts DESC, kind;

\echo '== Top five reasons (cs.rule_firing) =='
SELECT rule_name, count(*) AS firings, count(DISTINCT account_id) AS accounts
FROM cs.rule_firing
GROUP BY rule_name
ORDER BY firings DESC, rule_name
LIMIT 5;

\echo '== Accounts per phase after the rules (cs.accounts_per_phase) =='
SELECT phase, accounts, unassigned_accounts
FROM cs.accounts_per_phase
ORDER BY position;

\echo '== Why is the first churn_risk alert open? (cs.rule_effect) =='
SELECT e.rule_name, e.rule_version, e.event, e.facts, e.fired_by
FROM cs.rule_effect AS e
WHERE e.target_kind = 'alert'
  AND e.target_id = (SELECT min(alert_id) FROM cs.alert WHERE kind = 'churn_risk')
ORDER BY e.rule_firing_id
LIMIT 1;
