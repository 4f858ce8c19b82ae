-- E-mail delivery: the claim and record steps as SQL functions, and the C
-- procedure cs.deliver_email that runs them around the SMTP transfers.

CREATE FUNCTION cs.claim_email_batch(batch_size integer, as_of timestamptz, lease interval)
RETURNS SETOF cs.email_outbox
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE cs.email_outbox AS o
    SET status = 'sending',
        attempts = o.attempts + 1,
        lease_until = as_of + lease,
        leased_by = pg_catalog.pg_backend_pid()
    WHERE o.outbox_id IN (
        SELECT d.outbox_id
        FROM cs.email_outbox AS d
        WHERE (d.status = 'queued'
               AND d.due_at <= as_of
               AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= as_of))
           OR (d.status = 'sending' AND d.lease_until < as_of)
        ORDER BY d.due_at, d.outbox_id
        LIMIT greatest(batch_size, 0)
        FOR UPDATE SKIP LOCKED)
    RETURNING o.*;
$$;

COMMENT ON FUNCTION cs.claim_email_batch(integer, timestamptz, interval) IS
'Claims up to batch_size messages due at as_of (queued with due_at and next_attempt_at not after as_of, or sending with a lease that expired before as_of), oldest due_at first, skipping rows that another transaction has locked. Each claimed row becomes sending, with attempts + 1, lease_until = as_of + lease and leased_by = this backend''s process id; the rows are returned. cs.deliver_email calls it; commit right after it, so that the lease, not a row lock, protects the claim.';

CREATE FUNCTION cs.record_email_outcomes(
    outbox_ids bigint[],
    claimed_attempts bigint[],
    new_statuses text[],
    next_attempts timestamptz[],
    message_ids text[],
    errors text[],
    reasons text[],
    sent_ats timestamptz[])
RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH recorded AS (
        UPDATE cs.email_outbox AS o
        SET status = CASE WHEN r.new_status = 'released' THEN 'queued' ELSE r.new_status END,
            attempts = CASE WHEN r.new_status = 'released' THEN o.attempts - 1 ELSE o.attempts END,
            next_attempt_at = CASE WHEN r.new_status = 'queued' THEN r.next_attempt_at ELSE o.next_attempt_at END,
            message_id = coalesce(r.message_id, o.message_id),
            last_error = coalesce(r.error, o.last_error),
            status_reason = CASE WHEN r.new_status IN ('failed', 'dead') THEN r.reason ELSE o.status_reason END,
            sent_at = CASE WHEN r.new_status = 'sent' THEN r.sent_at ELSE o.sent_at END,
            lease_until = NULL,
            leased_by = NULL
        FROM unnest(outbox_ids, claimed_attempts, new_statuses, next_attempts,
                    message_ids, errors, reasons, sent_ats)
             AS r(outbox_id, claimed_attempts, new_status, next_attempt_at,
                  message_id, error, reason, sent_at)
        WHERE o.outbox_id = r.outbox_id
          AND o.status = 'sending'
          AND o.leased_by = pg_catalog.pg_backend_pid()
          AND o.attempts = r.claimed_attempts
        RETURNING 1
    )
    SELECT pg_catalog.count(*)::integer FROM recorded;
$$;

COMMENT ON FUNCTION cs.record_email_outcomes(bigint[], bigint[], text[], timestamptz[], text[], text[], text[], timestamptz[]) IS
'Stores delivery outcomes of messages that this backend claimed, one array element per message: new status sent, queued (with next_attempt_at), failed, dead, or released (back to queued with the attempt given back). A row whose lease another worker has taken over in the meantime (status, leased_by or attempts changed) is left alone. Returns the number of rows updated.';

CREATE PROCEDURE cs.deliver_email(batch_size integer DEFAULT NULL, as_of timestamptz DEFAULT now())
LANGUAGE c
AS 'MODULE_PATHNAME', 'cs_deliver_email';

-- No SET search_path here: PostgreSQL runs a procedure that has a SET
-- clause atomically, which would reject its commits. The procedure's own
-- statements call only the two functions above, by qualified name, and
-- those pin search_path.
COMMENT ON PROCEDURE cs.deliver_email(integer, timestamptz) IS
'Sends due messages of cs.email_outbox over SMTP in batches (batch_size, default pg_success.batch_size): claims a batch and commits, sends it over one connection, records the outcomes and commits, until no message is due at as_of. Must be called with CALL outside a transaction block. Settings: pg_success.smtp_url, pg_success.mail_from and the other pg_success.* delivery settings.';

REVOKE ALL ON FUNCTION cs.claim_email_batch(integer, timestamptz, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION cs.record_email_outcomes(bigint[], bigint[], text[], timestamptz[], text[], text[], text[], timestamptz[]) FROM PUBLIC;
REVOKE ALL ON PROCEDURE cs.deliver_email(integer, timestamptz) FROM PUBLIC;

-- cs_admin runs delivery: it calls the procedure, which updates the
-- delivery columns of the outbox with the caller's privileges.
GRANT EXECUTE ON FUNCTION cs.claim_email_batch(integer, timestamptz, interval) TO cs_admin;
GRANT EXECUTE ON FUNCTION cs.record_email_outcomes(bigint[], bigint[], text[], timestamptz[], text[], text[], text[], timestamptz[]) TO cs_admin;
GRANT EXECUTE ON PROCEDURE cs.deliver_email(integer, timestamptz) TO cs_admin;
GRANT UPDATE (status, status_reason, next_attempt_at, attempts, lease_until,
              leased_by, message_id, last_error, sent_at)
    ON cs.email_outbox TO cs_admin;
