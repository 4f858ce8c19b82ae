-- Journey and ownership automation: C triggers on cs.account and
-- cs.team_member, and the functions that move and assign accounts.

CREATE FUNCTION cs.account_before_insert_statement()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_account_before_insert_statement';

COMMENT ON FUNCTION cs.account_before_insert_statement() IS 'Statement trigger on cs.account: opens the buffer of phase entries of one INSERT statement, so that an insert running inside another keeps its entries apart.';

CREATE FUNCTION cs.account_before_write()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_account_before_write';

COMMENT ON FUNCTION cs.account_before_write() IS 'Row trigger on cs.account: places a new account in the default phase, moves a churned account to the churn phase and a reactivated one back to the default phase.';

CREATE FUNCTION cs.account_after_insert()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_account_after_insert';

COMMENT ON FUNCTION cs.account_after_insert() IS 'Statement trigger on cs.account: records the phase of the new accounts and assigns their owners, once per statement.';

CREATE FUNCTION cs.account_after_update()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_account_after_update';

COMMENT ON FUNCTION cs.account_after_update() IS 'Statement trigger on cs.account: records phase and owner changes and assigns owners to accounts that entered a phase owned by another role.';

CREATE TRIGGER account_before_insert_statement
    BEFORE INSERT ON cs.account
    FOR EACH STATEMENT EXECUTE FUNCTION cs.account_before_insert_statement();

CREATE TRIGGER account_before_write
    BEFORE INSERT OR UPDATE OF status, phase_id, churned_at ON cs.account
    FOR EACH ROW EXECUTE FUNCTION cs.account_before_write();

CREATE TRIGGER account_after_insert
    AFTER INSERT ON cs.account
    REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION cs.account_after_insert();

CREATE TRIGGER account_after_update
    AFTER UPDATE ON cs.account
    REFERENCING OLD TABLE AS old_accounts NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION cs.account_after_update();

CREATE FUNCTION cs.team_member_after_update()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_team_member_after_update';

COMMENT ON FUNCTION cs.team_member_after_update() IS 'Statement trigger on cs.team_member: reassigns the accounts of members who were deactivated or changed role, and gives unassigned accounts to members who became active.';

CREATE FUNCTION cs.team_member_after_insert()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_team_member_after_insert';

COMMENT ON FUNCTION cs.team_member_after_insert() IS 'Statement trigger on cs.team_member: gives unassigned accounts of the new members'' roles to them.';

CREATE TRIGGER team_member_after_insert
    AFTER INSERT ON cs.team_member
    REFERENCING NEW TABLE AS new_members
    FOR EACH STATEMENT EXECUTE FUNCTION cs.team_member_after_insert();

CREATE TRIGGER team_member_after_update
    AFTER UPDATE ON cs.team_member
    REFERENCING OLD TABLE AS old_members NEW TABLE AS new_members
    FOR EACH STATEMENT EXECUTE FUNCTION cs.team_member_after_update();

CREATE FUNCTION cs.run_phase_transitions(as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '128MB'
AS 'MODULE_PATHNAME', 'cs_run_phase_transitions';

COMMENT ON FUNCTION cs.run_phase_transitions(timestamptz) IS
'Moves every active account whose phase ended at or before as_of (phase_entered_at + max_duration <= as_of) to the next phase, through as many phases as are over, and returns the number of accounts moved. Each move is recorded with the time it was due.';

CREATE FUNCTION cs.assign_owners(account_ids bigint[] DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_assign_owners';

COMMENT ON FUNCTION cs.assign_owners(bigint[], timestamptz) IS
'Assigns an owner to each listed account (every account when NULL) that has none, whose owner is inactive, or whose owner''s role differs from the role that owns its phase; returns the number of accounts that got a new owner.';

