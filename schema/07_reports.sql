-- Report views over the journey and ownership, for SQL clients and BI tools.

CREATE VIEW cs.accounts_per_phase AS
SELECT p.phase_id,
       p.name AS phase,
       p.position,
       count(a.account_id) AS accounts,
       count(a.account_id) FILTER (WHERE a.owner_id IS NULL) AS unassigned_accounts
FROM cs.phase AS p
LEFT JOIN cs.account AS a ON a.phase_id = p.phase_id
GROUP BY p.phase_id, p.name, p.position;

COMMENT ON VIEW cs.accounts_per_phase IS 'Number of accounts in each journey phase, and how many of them have no owner.';
COMMENT ON COLUMN cs.accounts_per_phase.phase_id IS 'Phase identifier.';
COMMENT ON COLUMN cs.accounts_per_phase.phase IS 'Phase name.';
COMMENT ON COLUMN cs.accounts_per_phase.position IS 'Sort order of the phase.';
COMMENT ON COLUMN cs.accounts_per_phase.accounts IS 'Accounts currently in the phase.';
COMMENT ON COLUMN cs.accounts_per_phase.unassigned_accounts IS 'Accounts in the phase without an owner.';

CREATE VIEW cs.accounts_per_owner AS
SELECT m.member_id,
       m.name AS owner,
       m.role_name,
       m.active,
       m.max_accounts,
       count(a.account_id) AS accounts,
       count(a.account_id) FILTER (WHERE a.status = 'active') AS active_accounts,
       coalesce(sum(c.arr), 0)::numeric(14, 2) AS arr
FROM cs.team_member AS m
LEFT JOIN cs.account AS a ON a.owner_id = m.member_id
LEFT JOIN (
    SELECT account_id, sum(arr) AS arr
    FROM cs.contract
    WHERE status = 'active'
    GROUP BY account_id
) AS c ON c.account_id = a.account_id
GROUP BY m.member_id, m.name, m.role_name, m.active, m.max_accounts;

COMMENT ON VIEW cs.accounts_per_owner IS 'Accounts and ARR owned by each team member, against the member''s capacity.';
COMMENT ON COLUMN cs.accounts_per_owner.member_id IS 'Member identifier.';
COMMENT ON COLUMN cs.accounts_per_owner.owner IS 'Member name.';
COMMENT ON COLUMN cs.accounts_per_owner.role_name IS 'Member role.';
COMMENT ON COLUMN cs.accounts_per_owner.active IS 'Whether the member is active.';
COMMENT ON COLUMN cs.accounts_per_owner.max_accounts IS 'Capacity in accounts; NULL means no limit.';
COMMENT ON COLUMN cs.accounts_per_owner.accounts IS 'Accounts owned, churned ones included.';
COMMENT ON COLUMN cs.accounts_per_owner.active_accounts IS 'Active accounts owned.';
COMMENT ON COLUMN cs.accounts_per_owner.arr IS 'Total ARR of the active contracts of the accounts owned.';

CREATE VIEW cs.unassigned_accounts AS
SELECT a.account_id,
       a.external_id,
       a.name,
       a.segment,
       p.name AS phase,
       p.owner_role AS needed_role,
       last_try.changed_at AS last_attempt_at,
       last_try.reason
FROM cs.account AS a
JOIN cs.phase AS p ON p.phase_id = a.phase_id
LEFT JOIN LATERAL (
    SELECT h.changed_at, h.reason
    FROM cs.owner_history AS h
    WHERE h.account_id = a.account_id
    ORDER BY h.owner_history_id DESC
    LIMIT 1
) AS last_try ON true
WHERE a.owner_id IS NULL;

COMMENT ON VIEW cs.unassigned_accounts IS 'Accounts without an owner, with the role their phase needs and the reason the last assignment gave.';
COMMENT ON COLUMN cs.unassigned_accounts.account_id IS 'Account identifier.';
COMMENT ON COLUMN cs.unassigned_accounts.external_id IS 'Identifier in the source system.';
COMMENT ON COLUMN cs.unassigned_accounts.name IS 'Account name.';
COMMENT ON COLUMN cs.unassigned_accounts.segment IS 'Account segment.';
COMMENT ON COLUMN cs.unassigned_accounts.phase IS 'Current phase.';
COMMENT ON COLUMN cs.unassigned_accounts.needed_role IS 'Role that owns accounts in this phase.';
COMMENT ON COLUMN cs.unassigned_accounts.last_attempt_at IS 'When the last assignment was tried.';
COMMENT ON COLUMN cs.unassigned_accounts.reason IS 'Why that assignment left the account without an owner.';

