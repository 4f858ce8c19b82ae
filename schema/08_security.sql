-- Roles and privileges. Three group roles: cs_admin configures everything
-- and loads data, cs_user works the accounts it owns, cs_reader reads the
-- report views. Roles are cluster-wide, so they are created only when
-- missing and are left in place by DROP EXTENSION.

DO $$
DECLARE
    role_to_create text;
BEGIN
    FOREACH role_to_create IN ARRAY ARRAY['cs_admin', 'cs_user', 'cs_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_to_create) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_to_create);
        END IF;
    END LOOP;
END;
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA cs FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cs FROM PUBLIC;
GRANT USAGE ON SCHEMA cs TO cs_admin, cs_user, cs_reader;

-- The domain checks run for anyone who writes a domain column.
GRANT EXECUTE ON FUNCTION cs.check_time_zone(text), cs.check_email(text) TO PUBLIC;

-- cs_admin: every table, the automation functions and the reports.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    cs.team_role, cs.team_member, cs.round_robin_cursor, cs.phase,
    cs.account, cs.contact, cs.contract, cs.usage_daily
    TO cs_admin;
GRANT TRUNCATE ON cs.usage_daily TO cs_admin;
GRANT SELECT ON cs.phase_history, cs.owner_history TO cs_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA cs TO cs_admin;
GRANT EXECUTE ON FUNCTION cs.run_phase_transitions(timestamptz), cs.assign_owners(bigint[], timestamptz) TO cs_admin;

-- cs_user: reads the customer data, edits contacts and the attributes of
-- the accounts it owns.
GRANT SELECT ON
    cs.team_role, cs.team_member, cs.phase, cs.account, cs.contact, cs.contract,
    cs.usage_daily, cs.phase_history, cs.owner_history
    TO cs_user;
GRANT UPDATE (attributes) ON cs.account TO cs_user;
GRANT INSERT, UPDATE ON cs.contact TO cs_user;
GRANT USAGE ON SEQUENCE cs.contact_contact_id_seq TO cs_user;

-- A cs_user changes only the accounts owned by the team member whose
-- db_role is the current user, and the contacts of those accounts. Row
-- triggers enforce it rather than row-level security, because COPY FROM
-- does not work on a table with row-level security for anyone but its
-- owner, and data engineers load with COPY. The WHEN clause skips the
-- check for cs_admin members and superusers, so bulk loads pay nothing.
CREATE FUNCTION cs.check_owner_access()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target_account bigint;
BEGIN
    IF TG_TABLE_NAME = 'account' THEN
        target_account := OLD.account_id;
    ELSIF TG_OP = 'DELETE' THEN
        target_account := OLD.account_id;
    ELSE
        target_account := NEW.account_id;
        IF TG_OP = 'UPDATE' AND NEW.account_id IS DISTINCT FROM OLD.account_id THEN
            PERFORM cs.require_account_owner(OLD.account_id);
        END IF;
    END IF;

    PERFORM cs.require_account_owner(target_account);

    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION cs.check_owner_access() IS 'Row trigger on cs.account, cs.contact and cs.alert: lets a cs_user change only rows of accounts that its team member owns.';

CREATE FUNCTION cs.require_account_owner(target_account bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM cs.account AS a
        JOIN cs.team_member AS m ON m.member_id = a.owner_id
        WHERE a.account_id = target_account AND m.db_role = current_user
    ) THEN
        RAISE EXCEPTION 'account % is not owned by the team member of role %', target_account, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A cs_user changes only accounts whose owner has db_role = current_user; ask a cs_admin to change others.';
    END IF;
END;
$$;

COMMENT ON FUNCTION cs.require_account_owner(bigint) IS 'Raises insufficient_privilege unless the account is owned by the team member whose db_role is the current user.';

CREATE TRIGGER account_check_owner_access
    BEFORE UPDATE OR DELETE ON cs.account
    FOR EACH ROW
    WHEN (NOT pg_catalog.pg_has_role(current_user, 'cs_admin', 'USAGE'))
    EXECUTE FUNCTION cs.check_owner_access();

CREATE TRIGGER contact_check_owner_access
    BEFORE INSERT OR UPDATE OR DELETE ON cs.contact
    FOR EACH ROW
    WHEN (NOT pg_catalog.pg_has_role(current_user, 'cs_admin', 'USAGE'))
    EXECUTE FUNCTION cs.check_owner_access();

GRANT DELETE ON cs.contact TO cs_user;
GRANT EXECUTE ON FUNCTION cs.require_account_owner(bigint) TO cs_user;

-- cs_reader: the report views only.
GRANT SELECT ON cs.accounts_per_phase, cs.accounts_per_owner, cs.unassigned_accounts
    TO cs_reader, cs_user, cs_admin;

