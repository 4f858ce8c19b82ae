-- Queueing e-mail: recipients, rendering, idempotency, suppression of
-- opted-out contacts, send windows and errors.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
DROP ROLE IF EXISTS regress_email_csm;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

INSERT INTO cs.team_member (member_id, name, email, role_name, time_zone, active) VALUES
    (1, 'Olga Ortiz', 'olga@example.com', 'onboarding_specialist', 'Europe/Berlin', true),
    (2, 'Gone Member', 'gone@example.com', 'csm', 'UTC', false);
INSERT INTO cs.account (account_id, external_id, name, segment, time_zone, created_at) VALUES
    (1, 'crm-001', 'Acme & Sons', 'smb', 'America/New_York', '2025-01-01'),
    (2, 'crm-002', 'Nobody Inc', 'enterprise', NULL, '2025-01-01');
UPDATE cs.account SET owner_id = NULL WHERE account_id = 2;
INSERT INTO cs.contact (account_id, contact_id, name, email, time_zone, is_primary,
                        opted_out_all, opted_out_marketing) VALUES
    (1, 1, 'Pat Lee', 'pat@acme.example.com', NULL, true, false, false),
    (1, 2, 'Mia Out', 'mia@acme.example.com', 'Asia/Tokyo', false, false, true),
    (1, 3, 'Al Gone', 'al@acme.example.com', NULL, false, true, false),
    (2, 4, 'Zed', 'zed@nobody.example.com', NULL, false, false, false);
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months) VALUES
    (1, '2025-01-01', '2026-01-01', 12000, 12);

INSERT INTO cs.email_template (name, category, subject, body_text, body_html) VALUES
    ('renewal', 'transactional', 'Renewal for {{account.name}}',
     'Hi {{contact.first_name | "there"}}, renews {{renewal.date}} at {{renewal.arr}}. {{owner.name}}',
     '<p>Hi {{contact.first_name | "there"}}, {{account.name}}</p>'),
    ('news', 'marketing', 'News', 'Hello {{contact.name | "friend"}}', NULL);

-- Runs a statement and returns the error it raised, or 'no error'.
CREATE FUNCTION pg_temp.error_of(statement text)
RETURNS TABLE (code text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN QUERY SELECT NULL::text, 'no error'::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN NEXT;
END;
$$;

CREATE VIEW pg_temp.outbox AS
SELECT outbox_id, idempotency_key, account_id, template_id, category, recipient_kind,
       contact_id, member_id, to_address, to_name, time_zone, status, status_reason,
       queued_at, due_at
FROM cs.email_outbox ORDER BY outbox_id;

-- Primary contact, Wednesday 2025-01-08 20:00 UTC: 15:00 in New York (the
-- account's zone, as the contact has none), inside the window.
SELECT cs.queue_email('renewal', 1, 'primary_contact', 'renewal:1', '2025-01-08 20:00+00');
SELECT subject, body_text, body_html FROM cs.email_outbox WHERE idempotency_key = 'renewal:1';

-- The same key again, also with other arguments, returns the same row.
SELECT cs.queue_email('renewal', 1, 'primary_contact', 'renewal:1', '2025-01-09 20:00+00');
SELECT cs.queue_email('news', 2, 'contact:4', 'renewal:1', '2025-01-09 20:00+00');
SELECT count(*) AS rows_for_key FROM cs.email_outbox WHERE idempotency_key = 'renewal:1';

-- A contact by id, in its own zone (Tokyo): 20:00 UTC is 05:00 Thursday,
-- so the message is due at 09:00 Tokyo time.
SELECT cs.queue_email('renewal', 1, 'contact:2', 'renewal:1:contact:2', '2025-01-08 20:00+00');

-- Suppression: opted out of marketing gets no marketing mail but still
-- transactional mail; opted out of everything gets neither.
SELECT cs.queue_email('news', 1, 'contact:2', 'news:contact:2', '2025-01-08 20:00+00');
SELECT cs.queue_email('news', 1, 'contact:3', 'news:contact:3', '2025-01-08 20:00+00');
SELECT cs.queue_email('renewal', 1, 'contact:3', 'renewal:contact:3', '2025-01-08 20:00+00');

-- Team members are never suppressed and use their own zone; the contact
-- fields name the primary contact.
SELECT cs.queue_email('news', 1, 'owner', 'news:owner:1', '2025-01-08 20:00+00');
SELECT body_text FROM cs.email_outbox WHERE idempotency_key = 'news:owner:1';
SELECT cs.queue_email('renewal', 2, 'member:1', 'renewal:2:member:1', '2025-01-11 12:00+00');
SELECT body_text FROM cs.email_outbox WHERE idempotency_key = 'renewal:2:member:1';

-- No time zone anywhere: the default zone of cs.send_window.
UPDATE cs.send_window SET default_time_zone = 'Pacific/Kiritimati';
SELECT cs.queue_email('news', 2, 'contact:4', 'news:contact:4', '2025-01-08 20:00+00');

SELECT * FROM pg_temp.outbox;

-- Errors, each with SQLSTATE, the value and a hint.
\x on
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 2, 'primary_contact', 'e1', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 2, 'owner', 'e2', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'contact:4', 'e3', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'member:99', 'e4', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'member:2', 'e5', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'customer', 'e6', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'contact:', 'e7', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'contact:99999999999999999999', 'e8', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, NULL, 'e9', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('welcome', 1, 'primary_contact', 'e10', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 42, 'primary_contact', 'e11', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'primary_contact', '  ', '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'primary_contact', NULL, '2025-01-08 20:00+00')$$);
SELECT * FROM pg_temp.error_of($$SELECT cs.queue_email('renewal', 1, 'primary_contact', 'e12', NULL)$$);
\x off
SELECT count(*) AS outbox_rows FROM cs.email_outbox;

-- A cs_user queues through the function without any privilege on the
-- outbox, and cannot write the outbox directly.
CREATE ROLE regress_email_csm IN ROLE cs_user;
SET ROLE regress_email_csm;
SELECT cs.queue_email('renewal', 1, 'primary_contact', 'by-user', '2025-01-08 20:00+00') > 0 AS queued;
INSERT INTO cs.email_outbox (idempotency_key, recipient_kind, to_address, subject, body_text)
VALUES ('forged', 'address', 'x@example.com', 's', 'b');
SELECT cs.queue_email_as_owner('renewal', 1, 'primary_contact', 'direct', '2025-01-08 20:00+00');
RESET ROLE;
DROP ROLE regress_email_csm;

-- Deleting a template keeps its messages.
DELETE FROM cs.email_template WHERE name = 'news';
SELECT count(*) FILTER (WHERE template_id IS NULL) AS without_template FROM cs.email_outbox;
