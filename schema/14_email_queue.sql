-- Queueing e-mail: cs.queue_email renders a template for one recipient and
-- inserts the message into cs.email_outbox once per idempotency key.

CREATE FUNCTION cs.queue_email_as_owner(
    template_name   text,
    account_id      bigint,
    recipient       text,
    idempotency_key text,
    as_of           timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    template       cs.email_template;
    account        cs.account;
    contact        cs.contact;
    member         cs.team_member;
    recipient_id   bigint;
    recipient_kind text;
    zone           text;
    context        jsonb;
    message_status text := 'queued';
    reason         text;
    outbox_id      bigint;
BEGIN
    IF idempotency_key IS NULL OR pg_catalog.btrim(idempotency_key) = '' THEN
        RAISE EXCEPTION 'idempotency key is missing'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The key given was %L.', idempotency_key),
                  HINT = 'Pass a key that names the logical message, such as ''welcome:account:42''.';
    END IF;
    IF as_of IS NULL OR NOT pg_catalog.isfinite(as_of) THEN
        RAISE EXCEPTION 'invalid as_of %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the time the message is queued, such as now().';
    END IF;

    -- A key that is already queued returns its row, even when the template
    -- or the recipient changed since: the key identifies the message.
    SELECT o.outbox_id INTO outbox_id
    FROM cs.email_outbox AS o
    WHERE o.idempotency_key = queue_email_as_owner.idempotency_key;
    IF FOUND THEN
        RETURN outbox_id;
    END IF;

    SELECT * INTO template FROM cs.email_template AS t WHERE t.name = template_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'e-mail template "%" does not exist', coalesce(template_name, 'NULL')
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM cs.email_template lists the templates.';
    END IF;

    SELECT * INTO account FROM cs.account AS a WHERE a.account_id = queue_email_as_owner.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'Pass the account_id of a row of cs.account.';
    END IF;

    IF recipient ~ '^(contact|member):[0-9]{1,18}$' THEN
        recipient_id := pg_catalog.split_part(recipient, ':', 2)::bigint;
    END IF;

    IF recipient = 'primary_contact' THEN
        SELECT * INTO contact FROM cs.contact AS c
        WHERE c.account_id = account.account_id AND c.is_primary;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'account % has no primary contact', account.account_id
                USING ERRCODE = 'no_data_found',
                      DETAIL = pg_catalog.format('Recipient %L needs a contact of account %s (%s) with is_primary = true.',
                                                 recipient, account.account_id, account.name),
                      HINT = 'Mark one contact of the account as primary, or pass the recipient ''contact:<contact_id>''.';
        END IF;
        recipient_kind := 'contact';
    ELSIF recipient LIKE 'contact:%' AND recipient_id IS NOT NULL THEN
        SELECT * INTO contact FROM cs.contact AS c
        WHERE c.account_id = account.account_id AND c.contact_id = recipient_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'contact % of account % does not exist', recipient_id, account.account_id
                USING ERRCODE = 'no_data_found',
                      DETAIL = pg_catalog.format('Recipient %L names no contact of account %s (%s).',
                                                 recipient, account.account_id, account.name),
                      HINT = 'Pass the contact_id of a contact of this account.';
        END IF;
        recipient_kind := 'contact';
    ELSIF recipient = 'owner' THEN
        IF account.owner_id IS NULL THEN
            RAISE EXCEPTION 'account % has no owner', account.account_id
                USING ERRCODE = 'no_data_found',
                      DETAIL = pg_catalog.format('Recipient %L needs cs.account.owner_id of account %s (%s) to be set.',
                                                 recipient, account.account_id, account.name),
                      HINT = 'Assign an owner with cs.assign_owners(), or pass the recipient ''member:<member_id>''.';
        END IF;
        SELECT * INTO member FROM cs.team_member AS m WHERE m.member_id = account.owner_id;
        recipient_kind := 'member';
    ELSIF recipient LIKE 'member:%' AND recipient_id IS NOT NULL THEN
        SELECT * INTO member FROM cs.team_member AS m WHERE m.member_id = recipient_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'team member % does not exist', recipient_id
                USING ERRCODE = 'no_data_found',
                      DETAIL = pg_catalog.format('Recipient %L names no row of cs.team_member.', recipient),
                      HINT = 'Pass the member_id of an active team member.';
        END IF;
        IF NOT member.active THEN
            RAISE EXCEPTION 'team member % (%) is not active', member.member_id, member.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('Recipient %L is a member who has left or is away.', recipient),
                      HINT = 'Pass the member_id of an active team member.';
        END IF;
        recipient_kind := 'member';
    ELSE
        RAISE EXCEPTION 'invalid recipient %', coalesce(pg_catalog.quote_literal(recipient), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''primary_contact'', ''owner'', ''contact:<contact_id>'' or ''member:<member_id>''.';
    END IF;

    IF recipient_kind = 'contact' THEN
        zone := coalesce(contact.time_zone, account.time_zone);
        context := cs.email_context(account.account_id, contact.contact_id);
        IF contact.opted_out_all THEN
            message_status := 'suppressed';
            reason := 'contact opted out of all e-mail';
        ELSIF template.category = 'marketing' AND contact.opted_out_marketing THEN
            message_status := 'suppressed';
            reason := 'contact opted out of marketing e-mail';
        END IF;
    ELSE
        -- A team member gets every message, and the contact fields name
        -- the account's primary contact.
        zone := member.time_zone;
        context := cs.email_context(account.account_id, NULL);
    END IF;
    IF zone IS NULL THEN
        SELECT w.default_time_zone INTO zone FROM cs.send_window AS w;
        zone := coalesce(zone, 'UTC');
    END IF;

    INSERT INTO cs.email_outbox AS o (
        idempotency_key, account_id, template_id, category, recipient_kind,
        contact_id, member_id, to_address, to_name, subject, body_text, body_html,
        time_zone, status, status_reason, queued_at, due_at)
    VALUES (
        idempotency_key, account.account_id, template.template_id, template.category, recipient_kind,
        contact.contact_id, member.member_id,
        coalesce(contact.email, member.email), coalesce(contact.name, member.name),
        cs.render_template(template.subject, context, 'subject'),
        cs.render_template(template.body_text, context, 'text'),
        cs.render_template(template.body_html, context, 'html'),
        zone, message_status, reason, as_of,
        CASE WHEN message_status = 'queued' THEN cs.next_send_time(as_of, zone) ELSE as_of END)
    ON CONFLICT ON CONSTRAINT email_outbox_idempotency_key_unique DO NOTHING
    RETURNING o.outbox_id INTO outbox_id;

    -- A concurrent transaction inserted the same key and committed first.
    IF outbox_id IS NULL THEN
        SELECT o.outbox_id INTO outbox_id
        FROM cs.email_outbox AS o
        WHERE o.idempotency_key = queue_email_as_owner.idempotency_key;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'message with idempotency key % was queued and deleted concurrently', idempotency_key
                USING ERRCODE = 'serialization_failure',
                      HINT = 'Retry the call.';
        END IF;
    END IF;

    RETURN outbox_id;
END;
$$;

COMMENT ON FUNCTION cs.queue_email_as_owner(text, bigint, text, text, timestamptz) IS
'Implementation of cs.queue_email, which runs it as the owner of cs.email_outbox; not granted to users.';

CREATE FUNCTION cs.queue_email(
    template_name   text,
    account_id      bigint,
    recipient       text,
    idempotency_key text,
    as_of           timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_queue_email';

COMMENT ON FUNCTION cs.queue_email(text, bigint, text, text, timestamptz) IS
'Renders the template for the recipient (primary_contact, owner, contact:<contact_id> or member:<member_id>) and queues the message in cs.email_outbox, due at the next send window in the recipient''s time zone; returns its outbox_id. A second call with the same idempotency_key returns the same row. A contact who opted out gets a row with status suppressed, which is never sent.';

REVOKE ALL ON FUNCTION
    cs.queue_email_as_owner(text, bigint, text, text, timestamptz),
    cs.queue_email(text, bigint, text, text, timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cs.queue_email(text, bigint, text, text, timestamptz) TO cs_admin, cs_user;
