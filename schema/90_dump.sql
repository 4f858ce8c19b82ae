-- pg_dump keeps the rows of these tables and the state of their identity
-- sequences. Without this, a dump of a database with the extension would
-- contain only CREATE EXTENSION and lose every account.

SELECT pg_catalog.pg_extension_config_dump('cs.team_role', '');
SELECT pg_catalog.pg_extension_config_dump('cs.team_member', '');
SELECT pg_catalog.pg_extension_config_dump('cs.round_robin_cursor', '');
SELECT pg_catalog.pg_extension_config_dump('cs.phase', '');
SELECT pg_catalog.pg_extension_config_dump('cs.account', '');
SELECT pg_catalog.pg_extension_config_dump('cs.contact', '');
SELECT pg_catalog.pg_extension_config_dump('cs.contract', '');
SELECT pg_catalog.pg_extension_config_dump('cs.usage_daily', '');
SELECT pg_catalog.pg_extension_config_dump('cs.phase_history', '');
SELECT pg_catalog.pg_extension_config_dump('cs.owner_history', '');

SELECT pg_catalog.pg_extension_config_dump('cs.team_member_member_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.phase_phase_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.account_account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.contact_contact_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.contract_contract_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.phase_history_phase_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cs.owner_history_owner_history_id_seq', '');
