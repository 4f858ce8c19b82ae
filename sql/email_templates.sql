-- E-mail templates: the merge field registry, rendering, HTML escaping,
-- defaults, and every error of the validation trigger.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Runs a statement and returns the error it raised: SQLSTATE, message and
-- detail, or 'no error'.
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

SELECT * FROM cs.email_merge_fields();

-- Rendering from a hand-written context: literal text, spaces inside tags,
-- single braces and a stray "}}" stay as they are.
SELECT cs.render_template(
    'Dear {{ contact.first_name }}, {{account.name}} ({ {{account.segment}} }) }} end',
    '{"account": {"name": "Acme", "segment": "smb"}, "contact": {"first_name": "Pat"}}');

-- Defaults apply to a missing group, a missing key, JSON null and the
-- empty string; a tag without a default renders as nothing.
SELECT cs.render_template('Hi {{contact.first_name | "there"}}!', '{}') AS missing_group,
       cs.render_template('Hi {{contact.first_name | "there"}}!', '{"contact": {}}') AS missing_key,
       cs.render_template('Hi {{contact.first_name | "there"}}!', '{"contact": {"first_name": null}}') AS json_null,
       cs.render_template('Hi {{contact.first_name | "there"}}!', '{"contact": {"first_name": ""}}') AS empty,
       cs.render_template('Hi {{contact.first_name}}!', '{}') AS no_default;

-- Escapes in defaults: \" and \\; any other backslash stays.
SELECT cs.render_template('{{owner.name | "the \"team\" \\ \n"}}', '{}');
SELECT cs.render_template('{{owner.name|""}}|{{owner.name	|	"tab"	}}', '{}');

-- Numbers, booleans and objects render as JSON text.
SELECT cs.render_template('{{renewal.arr}} {{account.name}} {{account.segment}}',
    '{"renewal": {"arr": 12000.50}, "account": {"name": true, "segment": {"a": [1]}}}');

-- HTML escaping: values and defaults in html only, never the template.
SELECT cs.render_template('<b>{{account.name}}</b> {{owner.name | "<none>"}}',
    '{"account": {"name": "Tom & Jerry''s <\"best\">"}}', 'html') AS html,
       cs.render_template('<b>{{account.name}}</b> {{owner.name | "<none>"}}',
    '{"account": {"name": "Tom & Jerry''s <\"best\">"}}', 'text') AS text;

-- Subjects: control characters in values become spaces.
SELECT cs.render_template('Re: {{account.name}}', '{"account": {"name": "Evil\r\nBcc: x@example.com"}}', 'subject');

-- Unicode in text, values and defaults.
SELECT cs.render_template('Grüße {{contact.first_name | "Jürgen 👋"}} — {{account.name}}',
    '{"account": {"name": "Ça & Ко"}}', 'html');

-- A large template renders completely.
SELECT length(cs.render_template(repeat('x{{account.name}}', 100000), '{"account": {"name": "abc"}}')) AS length;

-- Bad arguments.
SELECT cs.render_template('{{account.name}}', '[1, 2]');
SELECT cs.render_template('{{account.name}}', '"text"');
SELECT cs.render_template('{{account.name}}', '{}', 'pdf');
SELECT cs.render_template(NULL, '{}') IS NULL AS null_template;

-- Rendering from the database: cs.email_context over real rows.
INSERT INTO cs.team_member (member_id, name, email, role_name) VALUES
    (1, 'Olga Ortiz', 'olga@example.com', 'onboarding_specialist');
INSERT INTO cs.account (account_id, external_id, name, segment, created_at) VALUES
    (1, 'crm-001', 'Acme <Ltd>', 'smb', '2025-01-01'),
    (2, 'crm-002', 'Bare', NULL, '2025-01-01');
UPDATE cs.account SET owner_id = NULL WHERE account_id = 2;
INSERT INTO cs.contact (account_id, contact_id, name, email, is_primary) VALUES
    (1, 1, '  Pat   Lee ', 'pat@acme.example.com', true),
    (1, 2, 'Sam', 'sam@acme.example.com', false);
INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months, status) VALUES
    (1, '2024-01-01', '2025-01-01', 500, 12, 'renewed'),
    (1, '2025-01-01', '2026-01-01', 1000, 12, 'active'),
    (1, '2025-03-01', '2025-09-01', 250.5, 6, 'active');

SELECT cs.render_template(
    '{{account.name}}|{{account.segment}}|{{account.external_id}}|{{contact.first_name}}|{{contact.name}}|{{contact.email}}|{{owner.name}}|{{owner.email}}|{{renewal.date}}|{{renewal.arr}}',
    cs.email_context(1)) AS primary_contact;
SELECT cs.render_template('{{contact.first_name}} {{contact.email}}', cs.email_context(1, 2)) AS other_contact;
SELECT cs.render_template('{{contact.first_name | "there"}} {{owner.name | "your team"}} {{renewal.date | "soon"}} {{account.segment | "-"}}',
    cs.email_context(2)) AS bare_account;
SELECT cs.email_context(99) IS NULL AS unknown_account;

-- The trigger accepts a valid template and keeps created_at on update.
INSERT INTO cs.email_template (name, category, subject, body_text, body_html, created_at, updated_at)
VALUES ('welcome', 'transactional', 'Welcome, {{account.name}}',
        E'Hi {{contact.first_name | "there"}},\nwelcome aboard.',
        '<p>Hi {{contact.first_name | "there"}}</p>', '2025-01-01', '2025-01-01');
UPDATE cs.email_template SET body_text = 'Hello {{contact.name}}' WHERE name = 'welcome';
SELECT name, created_at, updated_at > created_at AS updated FROM cs.email_template;

-- Every validation error, with SQLSTATE, position and field.
\x on
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', E'Dear {{contact.first_name}},\nabout {{acount.name}}.')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', E'line one\nline two {{account.name')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'unclosed {{')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'closed by one brace {{account.name} only')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'empty {{ }} field')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'empty {{ | "x"}} field')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'nested {{ {{account.name}} }}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'triple {{{account.name}}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'space {{account name}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'ünïcode {{accöunt.name}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'case {{Account.Name}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'unquoted {{contact.first_name | there}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'single quotes {{contact.first_name | ''there''}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'no default {{contact.first_name | }}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'open quote {{contact.first_name | "there}} and on')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'escaped quote {{contact.first_name | "there\"}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'two defaults {{contact.first_name | "a" "b"}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi', 'two pipes {{contact.first_name | "a" | "b"}}')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', E'Hi\r\nBcc: x@example.com', 'body')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text)
VALUES ('bad', 'Hi {{owner.nam}}', 'body')$$);
SELECT * FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text, body_html)
VALUES ('bad', 'Hi', 'body', E'<p>\n  {{account.name}} {{renewal.when}}</p>')$$);
SELECT * FROM pg_temp.error_of($$UPDATE cs.email_template SET body_html = '{{account.name' WHERE name = 'welcome'$$);

-- NULL bodies: NOT NULL reports the column, the trigger does not crash.
SELECT code, message FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text) VALUES ('bad', 'Hi', NULL)$$);
SELECT code, message FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, subject, body_text) VALUES ('bad', NULL, 'body')$$);
SELECT code, message FROM pg_temp.error_of($$INSERT INTO cs.email_template (name, category, subject, body_text) VALUES ('bad', 'newsletter', 'Hi', 'body')$$);


\x off
-- cs.check_template reports the same errors under the given part name.
SELECT cs.check_template('{{renewal.date}} {{renewal.arr | "n/a"}}') AS valid;
\x on
SELECT * FROM pg_temp.error_of($$SELECT cs.check_template(E'a\n\nbc {{x}}', 'draft')$$);

-- A huge template with an error near the end reports its line.
SELECT * FROM pg_temp.error_of($$SELECT cs.check_template(repeat(E'{{account.name}}\n', 50000) || '{{oops}}')$$);
\x off

-- The hint lists the allowed fields.
\set VERBOSITY default
SELECT cs.check_template('{{nope}}');

-- Nothing invalid was saved.
SELECT name FROM cs.email_template ORDER BY name;
