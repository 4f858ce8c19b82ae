-- Creates the transactional template "welcome" and queues one welcome
-- e-mail per active account to its primary contact, as of :as_of. Run after
-- demo/contacts.sql. The demo script delivers the queued messages
-- afterwards.
--
-- The queue statement runs twice. The idempotency key
-- welcome:account:<account_id> makes the second run return the rows of the
-- first, so the number of outbox rows must not change; the file fails when
-- it does.

SET TIME ZONE 'UTC';

-- owner.name is missing for the accounts without an owner (102 in the
-- demo), so its defaults name the team instead.
INSERT INTO cs.email_template (name, category, subject, body_text, body_html) VALUES
    ('welcome', 'transactional',
     'Welcome to the service, {{contact.first_name | "there"}}',
     'Hi {{contact.first_name | "there"}},

welcome to the service. Your account {{account.name}} is set up.
For any question about it, write to {{owner.name | "the Customer Success team"}}.

Best regards,
{{owner.name | "Customer Success"}}
',
     '<p>Hi {{contact.first_name | "there"}},</p>
<p>welcome to the service. Your account {{account.name}} is set up.
For any question about it, write to {{owner.name | "the Customer Success team"}}.</p>
<p>Best regards,<br>{{owner.name | "Customer Success"}}</p>
');

-- The subquery sorts the accounts, so the outbox ids follow the account ids.
PREPARE queue_welcome(timestamptz) AS
SELECT count(cs.queue_email('welcome', a.account_id, 'primary_contact',
                            'welcome:account:' || a.account_id, $1)) AS calls
FROM (SELECT account_id FROM cs.account WHERE status = 'active' ORDER BY account_id) AS a;

CREATE TEMP TABLE welcome_queue_run (
    run         integer PRIMARY KEY,
    calls       bigint NOT NULL,
    outbox_rows bigint NOT NULL
);

\echo 'Queueing welcome e-mails as of' :as_of '(twice, to show that the keys prevent duplicates) ...'

EXECUTE queue_welcome(:'as_of') \gset first_run_
INSERT INTO welcome_queue_run
SELECT 1, :first_run_calls, count(*)
FROM cs.email_outbox
WHERE idempotency_key LIKE 'welcome:account:%';

EXECUTE queue_welcome(:'as_of') \gset second_run_
INSERT INTO welcome_queue_run
SELECT 2, :second_run_calls, count(*)
FROM cs.email_outbox
WHERE idempotency_key LIKE 'welcome:account:%';

SELECT run, calls AS queue_email_calls, outbox_rows AS welcome_outbox_rows
FROM welcome_queue_run
ORDER BY run;

DO $$
DECLARE
    active_accounts bigint := (SELECT count(*) FROM cs.account WHERE status = 'active');
    first_rows      bigint := (SELECT outbox_rows FROM welcome_queue_run WHERE run = 1);
    second_rows     bigint := (SELECT outbox_rows FROM welcome_queue_run WHERE run = 2);
BEGIN
    IF first_rows <> active_accounts THEN
        RAISE EXCEPTION 'the first run queued % welcome e-mails, expected one per active account (%)',
            first_rows, active_accounts;
    END IF;
    IF second_rows <> first_rows THEN
        RAISE EXCEPTION 'queueing the welcome e-mails again changed the outbox from % to % rows',
            first_rows, second_rows;
    END IF;
END;
$$;

SELECT status, count(*) AS messages, min(due_at) AS first_due, max(due_at) AS last_due
FROM cs.email_outbox
WHERE idempotency_key LIKE 'welcome:account:%'
GROUP BY status
ORDER BY status;
