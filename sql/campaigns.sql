-- Campaigns: audiences by segment, phase and predicate, predicate checks
-- on save, throttling per minute, finishing, and idempotent re-runs.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
DROP ROLE IF EXISTS regress_campaign_admin, regress_campaign_csm;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Runs a statement and returns the error it raised, or 'no error'.
CREATE FUNCTION pg_temp.error_of(statement text)
RETURNS TABLE (code text, message text, detail text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN QUERY SELECT NULL::text, 'no error'::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN NEXT;
END;
$$;

INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Olga Ortiz', 'olga@example.com', 'onboarding_specialist');

-- Twelve accounts: even ones are smb, odd ones enterprise; tier gold for
-- accounts 1 to 6. Account 12 has no primary contact; the primary
-- contact of account 2 opted out of marketing.
INSERT INTO cs.account (account_id, external_id, name, segment, tier, created_at)
SELECT i, 'crm-' || i, 'Account ' || i,
       CASE WHEN i % 2 = 0 THEN 'smb' ELSE 'enterprise' END,
       CASE WHEN i <= 6 THEN 'gold' ELSE 'silver' END,
       '2025-01-01'
FROM generate_series(1, 12) AS i;
INSERT INTO cs.contact (account_id, name, email, is_primary, opted_out_marketing)
SELECT i, 'Contact ' || i, 'c' || i || '@example.com', i <> 12, i = 2
FROM generate_series(1, 12) AS i;
-- Account 3 moved to Adoption.
UPDATE cs.account SET phase_id = 2 WHERE account_id = 3;

INSERT INTO cs.email_template (name, category, subject, body_text) VALUES
    ('promo', 'marketing', 'Hello {{account.name}}', 'Hi {{contact.first_name | "there"}}');

-- Audience predicates are checked when a campaign is saved.
\x on
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'a.tier = ', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'a.tierx = ''gold''', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'a.tier', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'EXISTS (SELECT 1 FROM cs.contact AS c WHERE c.account_id = a.account_id)', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'a.owner_id IN (SELECT member_id FROM cs.team_member)', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'a.phase_id IN (SELECT phase_id FROM cs.accounts_per_phase)', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'true) UNION SELECT 1 FROM cs.contact WHERE (true', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'true) ORDER BY (1', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'true); DELETE FROM cs.contact; SELECT (1', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'true) --', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'true /*', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', '   ', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', 'count(*) > 1', '2025-01-01', 5)$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, starts_at, throttle_per_minute)
    VALUES ('bad', 'missing', '2025-01-01', 5)$$);
SELECT code, message FROM pg_temp.error_of($$INSERT INTO cs.campaign (name, template_name, starts_at, throttle_per_minute)
    VALUES ('bad', 'promo', '2025-01-01', 0)$$);
\x off
-- The contacts are all still there.
SELECT count(*) AS contacts FROM cs.contact;

-- A predicate may use subqueries over cs.account itself.
SELECT cs.check_audience_predicate('a.account_id IN (SELECT b.account_id FROM cs.account AS b WHERE b.tier = ''gold'')') AS self_subquery;

-- Predicate audience: gold accounts (1 to 6), 2 a minute.
INSERT INTO cs.campaign (campaign_id, name, template_name, audience_predicate, starts_at, throttle_per_minute, status)
VALUES (1, 'gold', 'promo', 'a.tier = ''gold''', '2025-01-08 10:00+00', 2, 'active');
-- Segment and phase audience: smb accounts in Onboarding (2, 4, ..., 12;
-- 12 has no primary contact), 100 a minute.
INSERT INTO cs.campaign (campaign_id, name, template_name, segment, phase_id, starts_at, throttle_per_minute, status)
VALUES (2, 'smb onboarding', 'promo', 'smb', 1, '2025-01-08 10:00+00', 100, 'active');
-- A draft and a campaign that has not started are left alone.
INSERT INTO cs.campaign (campaign_id, name, template_name, starts_at, throttle_per_minute, status) VALUES
    (3, 'draft', 'promo', '2025-01-01', 100, 'draft'),
    (4, 'later', 'promo', '2025-02-01', 100, 'active');

CREATE VIEW pg_temp.campaigns AS
SELECT campaign_id, status, last_tick_at, queued_count, finished_at FROM cs.campaign ORDER BY campaign_id;
CREATE VIEW pg_temp.queued AS
SELECT idempotency_key, status, status_reason, due_at FROM cs.email_outbox ORDER BY outbox_id;

-- Before the start nothing happens.
SELECT cs.run_campaigns('2025-01-08 09:59:59+00') AS queued;

-- First tick: one minute's worth. Campaign 1 queues accounts 1 and 2;
-- campaign 2 queues its whole audience and finishes.
SELECT cs.run_campaigns('2025-01-08 10:00:30+00') AS queued;
SELECT * FROM pg_temp.campaigns;
SELECT * FROM pg_temp.queued;

-- A re-run at the same time, or 20 seconds later, queues nothing: at 2 a
-- minute, less than one message of budget has accrued, and last_tick_at
-- stays.
SELECT cs.run_campaigns('2025-01-08 10:00:30+00') AS queued;
SELECT cs.run_campaigns('2025-01-08 10:00:50+00') AS queued;
SELECT last_tick_at FROM cs.campaign WHERE campaign_id = 1;

-- 90 seconds after the last tick: 3 messages of budget, accounts 3 to 5.
SELECT cs.run_campaigns('2025-01-08 10:02:00+00') AS queued;
SELECT * FROM pg_temp.campaigns WHERE campaign_id = 1;

-- A run that fails mid-campaign leaves nothing behind, so the next run
-- queues the same accounts once.
BEGIN;
SELECT cs.run_campaigns('2025-01-08 10:10:00+00') AS queued;
ROLLBACK;
SELECT count(*) AS outbox_rows FROM cs.email_outbox;

-- An account already queued under the campaign's key (by hand) is skipped.
SELECT cs.queue_email('promo', 6, 'primary_contact', 'campaign:1:account:6', '2025-01-08 10:05:00+00') AS by_hand;
SELECT cs.run_campaigns('2025-01-08 10:10:00+00') AS queued;
SELECT * FROM pg_temp.campaigns WHERE campaign_id = 1;
SELECT idempotency_key, count(*) FROM cs.email_outbox GROUP BY 1 HAVING count(*) > 1;

-- Finished campaigns are not run again.
SELECT cs.run_campaigns('2025-01-08 11:00:00+00') AS queued;

-- A campaign whose audience is empty finishes on its first tick.
INSERT INTO cs.campaign (campaign_id, name, template_name, audience_predicate, starts_at, throttle_per_minute, status)
VALUES (5, 'nobody', 'promo', 'a.tier = ''platinum''', '2025-01-08 10:00+00', 5, 'active');
SELECT cs.run_campaigns('2025-01-08 11:00:00+00') AS queued;
SELECT * FROM pg_temp.campaigns;

-- Admins only write campaigns; cs_user reads them. The admin's run
-- queues campaign 4 (every account with a primary contact, 11) and one
-- message of campaign 6.
CREATE ROLE regress_campaign_admin IN ROLE cs_admin;
CREATE ROLE regress_campaign_csm IN ROLE cs_user;
SET ROLE regress_campaign_admin;
INSERT INTO cs.campaign (campaign_id, name, template_name, starts_at, throttle_per_minute, status)
VALUES (6, 'by admin', 'promo', '2025-03-01', 1, 'active');
SELECT cs.run_campaigns('2025-03-01 00:00+00') AS queued;
RESET ROLE;
SET ROLE regress_campaign_csm;
SELECT count(*) AS campaigns FROM cs.campaign;
INSERT INTO cs.campaign (name, template_name, starts_at, throttle_per_minute)
VALUES ('by csm', 'promo', '2025-03-01', 1);
SELECT cs.run_campaigns('2025-03-01 00:00+00');
RESET ROLE;
DROP ROLE regress_campaign_admin, regress_campaign_csm;

-- The audience predicate runs with the privileges of the role that wrote
-- it, not with those of the caller, such as the superuser worker.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_campaign_admin;
RESET client_min_messages;
CREATE ROLE regress_campaign_admin IN ROLE cs_admin;
CREATE FUNCTION public.whoami_check() RETURNS boolean LANGUAGE sql
AS $$ SELECT current_user = 'regress_campaign_admin' $$;
GRANT EXECUTE ON FUNCTION public.whoami_check() TO PUBLIC;
SET ROLE regress_campaign_admin;
INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute, status, created_by)
SELECT 'Role check', name, 'public.whoami_check()', '2025-01-01+00', 1000, 'active', 'postgres'
FROM cs.email_template ORDER BY template_id LIMIT 1;
SELECT created_by FROM cs.campaign WHERE name = 'Role check';
RESET ROLE;
SELECT cs.run_campaigns('2025-06-01+00') >= 0 AS ran;
SELECT queued_count > 0 AS predicate_saw_creator_role FROM cs.campaign WHERE name = 'Role check';
DELETE FROM cs.campaign WHERE name = 'Role check';
DROP FUNCTION public.whoami_check();
DROP ROLE regress_campaign_admin;
