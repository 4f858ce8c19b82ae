# Checks that pg_dump and pg_restore carry a pg_success database over
# unchanged: the rows of every table of the extension, the state of its
# identity sequences, and an admin's edits to the builtin journey. Both the
# custom format (restored with plain pg_restore) and the plain SQL format
# (piped into psql with ON_ERROR_STOP) are checked.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Every table of the extension, each registered with
# pg_extension_config_dump so that pg_dump writes its rows.
my @tables = qw(
  account
  alert
  automation_step
  campaign
  contact
  contract
  email_outbox
  email_template
  owner_history
  phase
  phase_history
  playbook_request
  round_robin_cursor
  rule
  rule_cooldown
  rule_firing
  send_window
  team_member
  team_role
  time_event_occurrence
  usage_daily
);

# Source data. Timestamps are fixed, except where a trigger records the
# transaction time, which is the same in the source and the copies.
#
# - Onboarding lasts 45 days instead of the installed 30, and Adoption
#   assigns owners by round_robin, so cs.round_robin_cursor gets a row.
# - Expansion is a user phase owned by cs_lead, a role without members, so
#   acct-03, moved there by hand, stays without an owner and has an
#   owner_history row that says why.
# - acct-02 churns by an UPDATE; acct-gone-1 and acct-gone-2 are inserted as
#   churned.
# - acct-01 has a renewal contract that points at its first contract.
my $source_data = q{
SET TimeZone = 'UTC';

-- Rules that fire on the rows below. A restore runs with
-- pg_success.rules_enabled = off, so the copies fire nothing again.
INSERT INTO cs.rule (name, event, condition, actions, cooldown, created_at, updated_at) VALUES
  ('busy day', 'usage_recorded', '{"fact": "usage.active_users", "ge": 15}',
   '[{"action": "raise_alert", "kind": "busy", "severity": "low", "message": "{{name}}: {{usage.active_users}} users"},
     {"action": "start_playbook", "playbook": "expand"}]',
   '1 day', '2025-01-01 00:00+00', '2025-01-01 00:00+00'),
  ('renewal near', 'renewal_due', '{"fact": "renewal.threshold", "le": 90}',
   '[{"action": "raise_alert", "kind": "renewal", "message": "{{contract.days_to_end}} days left"}]',
   '0', '2025-01-01 00:00+00', '2025-01-01 00:00+00');

INSERT INTO cs.team_member (name, email, role_name, segments, max_accounts, time_zone) VALUES
  ('Ana Onboard', 'ana@example.com', 'onboarding_specialist', NULL, NULL, 'Europe/Berlin'),
  ('Ben Onboard', 'ben@example.com', 'onboarding_specialist', '{smb}', NULL, 'UTC'),
  ('Cleo Success', 'cleo@example.com', 'csm', NULL, 20, 'America/New_York'),
  ('Dev Success', 'dev@example.com', 'csm', '{enterprise,smb}', NULL, 'UTC'),
  ('Rita Renewal', 'rita@example.com', 'renewal_manager', NULL, NULL, 'UTC');

UPDATE cs.phase SET max_duration = '45 days' WHERE name = 'Onboarding';
UPDATE cs.phase SET assignment_strategy = 'round_robin' WHERE name = 'Adoption';
INSERT INTO cs.phase (name, position, owner_role) VALUES ('Expansion', 35, 'cs_lead');

INSERT INTO cs.account (external_id, name, segment, tier, time_zone, created_at, attributes)
SELECT 'acct-' || lpad(i::text, 2, '0'),
       'Account ' || i,
       CASE WHEN i % 3 = 0 THEN 'enterprise' ELSE 'smb' END,
       CASE WHEN i % 2 = 0 THEN 'gold' ELSE 'silver' END,
       'Europe/Paris',
       timestamptz '2025-01-01 00:00+00' + i * interval '7 days',
       jsonb_build_object('seats', i * 10, 'source', 'crm')
FROM generate_series(1, 12) AS i;

INSERT INTO cs.account (external_id, name, segment, status, created_at, churned_at) VALUES
  ('acct-gone-1', 'Gone 1', 'smb', 'churned', '2024-06-01 00:00+00', '2024-12-31 00:00+00'),
  ('acct-gone-2', 'Gone 2', 'enterprise', 'churned', '2024-07-01 00:00+00', '2025-01-31 00:00+00');

UPDATE cs.account SET status = 'churned', churned_at = '2025-02-15 00:00+00'
WHERE external_id = 'acct-02';

INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months, auto_renew, status)
SELECT a.account_id, date '2025-01-01', date '2026-01-01', 1000 * a.account_id,
       5 * a.account_id, 12, a.account_id % 2 = 0,
       CASE WHEN a.status = 'churned' THEN 'churned' ELSE 'active' END
FROM cs.account AS a;

INSERT INTO cs.contract (account_id, start_date, end_date, arr, term_months, renews_contract_id)
SELECT c.account_id, date '2026-01-01', date '2027-01-01', c.arr * 1.1, 12, c.contract_id
FROM cs.contract AS c
JOIN cs.account AS a ON a.account_id = c.account_id
WHERE a.external_id = 'acct-01';

UPDATE cs.contract AS c SET status = 'renewed'
FROM cs.account AS a
WHERE a.account_id = c.account_id AND a.external_id = 'acct-01' AND c.renews_contract_id IS NULL;

INSERT INTO cs.contact (account_id, name, email, time_zone, is_primary, opted_out_marketing)
SELECT a.account_id, 'Contact ' || a.external_id || '-' || n,
       a.external_id || '.' || n || '@example.com',
       CASE WHEN n = 1 THEN 'Asia/Tokyo' END, n = 1, n = 2
FROM cs.account AS a, generate_series(1, 2) AS n;

INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used, events)
SELECT a.account_id, d::date, a.account_id + extract(day FROM d)::int, a.account_id,
       100 * a.account_id
FROM cs.account AS a,
     generate_series(date '2025-03-01', date '2025-03-07', interval '1 day') AS d
WHERE a.status = 'active';

SELECT cs.run_phase_transitions(timestamptz '2025-06-01 00:00+00');
SELECT cs.run_renewal_due(timestamptz '2025-11-15 00:00+00');

UPDATE cs.account SET phase_id = (SELECT phase_id FROM cs.phase WHERE name = 'Expansion')
WHERE external_id = 'acct-03';

-- E-mail: an edited send window, a template, a queued message and a
-- campaign whose audience predicate is checked again on restore.
UPDATE cs.send_window SET start_time = '08:00', weekdays = '{1,2,3,4,5,6}',
    default_time_zone = 'Europe/Berlin';
INSERT INTO cs.email_template (name, subject, body_text, created_at, updated_at)
VALUES ('hello', 'Hello {{account.name}}', 'Hi {{contact.first_name | "there"}}',
        '2025-01-01 00:00+00', '2025-01-01 00:00+00');
SELECT cs.queue_email('hello', c.account_id, 'primary_contact', 'hello:first', '2025-06-02 10:00+00')
FROM cs.contact AS c WHERE c.is_primary ORDER BY c.account_id LIMIT 1;
INSERT INTO cs.campaign (name, template_name, audience_predicate, starts_at, throttle_per_minute, created_at)
VALUES ('gold', 'hello', 'a.tier = ''gold''', '2025-06-01 00:00+00', 10, '2025-01-01 00:00+00');
};

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_success'\npg_success.enabled = off");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE source');
$node->safe_psql('source', 'CREATE EXTENSION pg_success');
$node->safe_psql('source', $source_data);

# The source must hold what the checks below rely on, or an empty table
# would compare equal to an empty copy.
is( $node->safe_psql(
		'source',
		"SELECT count(*) FROM cs.account WHERE status = 'churned'"),
	'3',
	'source has churned accounts');
is( $node->safe_psql(
		'source',
		"SELECT count(*) FROM cs.account WHERE owner_id IS NULL"),
	'1',
	'source has one unassigned account');
is( $node->safe_psql(
		'source',
		"SELECT count(*) FROM cs.phase_history WHERE changed_by = 'phase_transition'"),
	'16',
	'source has timed phase transitions');
is($node->safe_psql('source', 'SELECT count(*) FROM cs.round_robin_cursor'),
	'1', 'source has a round-robin cursor');
is( $node->safe_psql(
		'source',
		"SELECT string_agg(rule_name || ':' || n, ',' ORDER BY rule_name) FROM "
		  . "(SELECT rule_name, count(*) AS n FROM cs.rule_firing GROUP BY rule_name) AS f"),
	'busy day:5,renewal near:10',
	'source has rule firings');

my @source_tables = split /\n/, $node->safe_psql(
	'source',
	"SELECT tablename FROM pg_tables WHERE schemaname = 'cs' AND tablename <> 'worker_state' ORDER BY tablename"
);
is_deeply(\@source_tables, \@tables, 'test covers every table in schema cs');

# Returns the row count and the md5 of the rows of cs.TABLE in DBNAME,
# sorted by their text form.
sub table_fingerprint
{
	my ($dbname, $table) = @_;

	my $result = $node->safe_psql(
		$dbname, qq{
		SET TimeZone = 'UTC';
		SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
		FROM cs.$table AS t});
	return split /\|/, $result;
}

# Returns "last_value|is_called" of every sequence in schema cs, one line
# per sequence.
sub sequence_states
{
	my ($dbname) = @_;

	return $node->safe_psql(
		$dbname, q{
		SELECT s.sequencename || ' ' || coalesce(s.last_value::text, 'unset')
		FROM pg_sequences AS s
		WHERE s.schemaname = 'cs'
		ORDER BY s.sequencename});
}

# Checks that DBNAME holds the same extension rows and sequence states as
# the source, that the edited journey survived, and that a new account gets
# the next identifiers and enters the default phase.
sub check_restored
{
	my ($dbname, $format) = @_;

	my @restored_tables = split /\n/, $node->safe_psql(
		$dbname,
		"SELECT tablename FROM pg_tables WHERE schemaname = 'cs' AND tablename <> 'worker_state' ORDER BY tablename"
	);
	is_deeply(\@restored_tables, \@tables, "$format: tables of schema cs");

	foreach my $table (@tables)
	{
		my ($source_count, $source_md5) = table_fingerprint('source', $table);
		my ($restored_count, $restored_md5) =
		  table_fingerprint($dbname, $table);

		is($restored_count, $source_count, "$format: cs.$table row count");
		is($restored_md5, $source_md5, "$format: cs.$table rows");
	}

	is(sequence_states($dbname), sequence_states('source'),
		"$format: identity sequence states");

	is( $node->safe_psql(
			$dbname,
			"SELECT max_duration FROM cs.phase WHERE name = 'Onboarding'"),
		'45 days',
		"$format: edited Onboarding duration");
	is( $node->safe_psql(
			$dbname,
			"SELECT position || ' ' || owner_role || ' ' || builtin FROM cs.phase WHERE name = 'Expansion'"
		),
		'35 cs_lead false',
		"$format: user phase");

	my $source_max_account =
	  $node->safe_psql('source', 'SELECT max(account_id) FROM cs.account');
	my $source_max_history = $node->safe_psql('source',
		'SELECT max(phase_history_id) FROM cs.phase_history');

	my $new_account = $node->safe_psql(
		$dbname, q{
		INSERT INTO cs.account (external_id, name, segment)
		VALUES ('acct-after-restore', 'After restore', 'smb')
		RETURNING account_id});
	cmp_ok($new_account, '>', $source_max_account,
		"$format: new account id follows restored ids");

	is( $node->safe_psql(
			$dbname, qq{
		SELECT p.name FROM cs.account AS a JOIN cs.phase AS p ON p.phase_id = a.phase_id
		WHERE a.account_id = $new_account AND p.is_default}),
		'Onboarding',
		"$format: new account in default phase");

	is( $node->safe_psql(
			$dbname, qq{
		SELECT count(*) FROM cs.phase_history AS h
		JOIN cs.phase AS p ON p.phase_id = h.to_phase_id
		WHERE h.account_id = $new_account AND h.from_phase_id IS NULL
		  AND p.name = 'Onboarding' AND h.phase_history_id > $source_max_history}),
		'1',
		"$format: new account history row");

	is( $node->safe_psql(
			$dbname, qq{
		SELECT m.role_name FROM cs.account AS a
		JOIN cs.team_member AS m ON m.member_id = a.owner_id
		WHERE a.account_id = $new_account}),
		'onboarding_specialist',
		"$format: new account owner");
	return;
}

my @connection = ('-h', $node->host, '-p', $node->port);

# Restored rows must not fire rules a second time.
$ENV{PGOPTIONS} = '-c pg_success.rules_enabled=off';
my $dump_file = $node->basedir . '/source.dump';

# Custom format, restored by plain pg_restore into a new database. The
# builtin phases and roles that CREATE EXTENSION installs are overwritten by
# their dumped versions, and the restored accounts count as copies, so no
# history or owner assignment is added.
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_file, 'source' ],
	'custom: pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE custom_restored');

my ($restore_out, $restore_err) = ('', '');
my $restore_ok = IPC::Run::run(
	[ 'pg_restore', @connection, '-d', 'custom_restored', $dump_file ],
	'>', \$restore_out, '2>', \$restore_err);
ok($restore_ok, 'custom: pg_restore exit status');
is($restore_err, '', 'custom: pg_restore reports no errors');

check_restored('custom_restored', 'custom');

# Plain SQL format, piped into psql, which stops at the first error.
$node->safe_psql('postgres', 'CREATE DATABASE plain_restored');

my ($dump_err, $psql_out, $psql_err) = ('', '', '');
my $pipe_ok = IPC::Run::run(
	[ 'pg_dump', @connection, '-Fp', 'source' ],
	'2>', \$dump_err, '|',
	[
		'psql', '-X', '-q', @connection, '-v', 'ON_ERROR_STOP=1',
		'-d', 'plain_restored'
	],
	'>', \$psql_out, '2>', \$psql_err);
ok($pipe_ok, 'plain: pg_dump | psql exit status');
is($psql_err, '', 'plain: psql reports no errors');

check_restored('plain_restored', 'plain');

$node->stop;

done_testing();
