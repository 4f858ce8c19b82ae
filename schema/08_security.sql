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

-- Row-level security on accounts: a cs_user changes only the accounts owned
-- by the team member whose db_role is the current user. Triggers write
-- history and assignments as the table owner, which the policies do not
-- restrict.
ALTER TABLE cs.account ENABLE ROW LEVEL SECURITY;

CREATE POLICY account_read ON cs.account FOR SELECT USING (true);

CREATE POLICY account_admin_write ON cs.account FOR ALL TO cs_admin USING (true) WITH CHECK (true);

CREATE POLICY account_owner_update ON cs.account FOR UPDATE TO cs_user
    USING (owner_id IN (SELECT m.member_id FROM cs.team_member AS m WHERE m.db_role = current_user))
    WITH CHECK (owner_id IN (SELECT m.member_id FROM cs.team_member AS m WHERE m.db_role = current_user));

ALTER TABLE cs.contact ENABLE ROW LEVEL SECURITY;

CREATE POLICY contact_read ON cs.contact FOR SELECT USING (true);

CREATE POLICY contact_admin_write ON cs.contact FOR ALL TO cs_admin USING (true) WITH CHECK (true);

CREATE POLICY contact_owner_write ON cs.contact FOR ALL TO cs_user
    USING (account_id IN (
        SELECT a.account_id FROM cs.account AS a
        JOIN cs.team_member AS m ON m.member_id = a.owner_id
        WHERE m.db_role = current_user))
    WITH CHECK (account_id IN (
        SELECT a.account_id FROM cs.account AS a
        JOIN cs.team_member AS m ON m.member_id = a.owner_id
        WHERE m.db_role = current_user));

-- cs_reader: the report views only.
GRANT SELECT ON cs.accounts_per_phase, cs.accounts_per_owner, cs.unassigned_accounts
    TO cs_reader, cs_user, cs_admin;

