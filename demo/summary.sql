-- Prints the state of the demo database after demo/load_telco.sql: accounts
-- per phase, per owner, the unassigned ones by reason, totals, and the
-- history of one account. Fails when the report views do not add up to
-- the number of accounts.

SET TIME ZONE 'UTC';

\echo
\echo '== Accounts per phase (cs.accounts_per_phase) =='
SELECT phase, accounts, unassigned_accounts
FROM cs.accounts_per_phase
ORDER BY position;

\echo '== Accounts per owner (cs.accounts_per_owner) =='
SELECT o.owner,
       o.role_name AS role,
       coalesce(array_to_string(m.segments, ', '), 'all') AS segments,
       o.max_accounts,
       o.accounts,
       o.active_accounts,
       o.arr AS active_arr
FROM cs.accounts_per_owner AS o
JOIN cs.team_member AS m ON m.member_id = o.member_id
ORDER BY o.member_id;

\echo '== Unassigned accounts by reason (cs.unassigned_accounts) =='
SELECT phase, needed_role, reason, count(*) AS accounts
FROM cs.unassigned_accounts
GROUP BY phase, needed_role, reason
ORDER BY accounts DESC, reason;

\echo '== Totals =='
SELECT (SELECT count(*) FROM cs.account) AS accounts,
       (SELECT count(*) FROM cs.account WHERE status = 'active') AS active,
       (SELECT count(*) FROM cs.account WHERE status = 'churned') AS churned,
       (SELECT sum(accounts) FROM cs.accounts_per_phase) AS sum_per_phase,
       (SELECT sum(accounts) FROM cs.accounts_per_owner) AS sum_per_owner,
       (SELECT count(*) FROM cs.unassigned_accounts) AS unassigned;

-- Every account is in exactly one phase, and has exactly one owner or is
-- listed as unassigned.
DO $$
DECLARE
    total_accounts bigint := (SELECT count(*) FROM cs.account);
    per_phase      bigint := (SELECT sum(accounts) FROM cs.accounts_per_phase);
    per_owner      bigint := (SELECT sum(accounts) FROM cs.accounts_per_owner);
    unassigned     bigint := (SELECT count(*) FROM cs.unassigned_accounts);
BEGIN
    IF per_phase <> total_accounts THEN
        RAISE EXCEPTION 'accounts per phase add up to %, expected % accounts',
            per_phase, total_accounts;
    END IF;
    IF per_owner + unassigned <> total_accounts THEN
        RAISE EXCEPTION 'accounts per owner (%) plus unassigned accounts (%) add up to %, expected % accounts',
            per_owner, unassigned, per_owner + unassigned, total_accounts;
    END IF;
END;
$$;

\echo '== Phase history of customer 9305-CDSKC (tenure 8 months, month-to-month, churned) =='
SELECT h.changed_at,
       coalesce(f.name, '-') AS from_phase,
       t.name AS to_phase,
       h.changed_by,
       h.reason
FROM cs.phase_history AS h
JOIN cs.account AS a ON a.account_id = h.account_id
LEFT JOIN cs.phase AS f ON f.phase_id = h.from_phase_id
JOIN cs.phase AS t ON t.phase_id = h.to_phase_id
WHERE a.external_id = '9305-CDSKC'
ORDER BY h.phase_history_id;

\echo '== Owner history of customer 9305-CDSKC =='
SELECT coalesce(f.name, '-') AS from_owner,
       coalesce(t.name, '-') AS to_owner,
       h.changed_by,
       h.reason
FROM cs.owner_history AS h
JOIN cs.account AS a ON a.account_id = h.account_id
LEFT JOIN cs.team_member AS f ON f.member_id = h.from_member_id
LEFT JOIN cs.team_member AS t ON t.member_id = h.to_member_id
WHERE a.external_id = '9305-CDSKC'
ORDER BY h.owner_history_id;
