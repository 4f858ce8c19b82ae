# Checks that a long-lived session sees journey changes committed by other
# sessions. Each backend caches cs.phase to find the default and churn
# phases; a change to cs.phase must reach that cache when it commits, and
# not before.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cache');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_success'\npg_success.enabled = off");
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_success');

# Session A inserts and churns accounts, and keeps its cache between
# statements. Session B changes the journey.
my $session_a = $node->background_psql('postgres');
my $session_b = $node->background_psql('postgres');
$session_a->query_safe('SET client_min_messages = warning');
$session_b->query_safe('SET client_min_messages = warning');

# Inserts an account through session A and returns the name of the phase
# it entered.
sub insert_in_session_a
{
	my ($external_id) = @_;

	$session_a->query_safe(
		"INSERT INTO cs.account (external_id, name) VALUES ('$external_id', 'Account $external_id')"
	);
	return $session_a->query_safe(
		"SELECT p.name FROM cs.account AS a JOIN cs.phase AS p ON p.phase_id = a.phase_id WHERE a.external_id = '$external_id'"
	);
}

is(insert_in_session_a('acct-1'), 'Onboarding',
	'first account enters installed default');

# An uncommitted change in B is invisible to A.
$session_b->query_safe('BEGIN');
$session_b->query_safe(
	"UPDATE cs.phase SET is_default = (name = 'Adoption')");
is(insert_in_session_a('acct-2'), 'Onboarding',
	'uncommitted default change not seen');

# Once B commits, A's next insert uses the new default.
$session_b->query_safe('COMMIT');
is(insert_in_session_a('acct-3'), 'Adoption',
	'committed default change seen');
is( $session_a->query_safe(
		"SELECT p.name FROM cs.phase_history AS h JOIN cs.account AS a ON a.account_id = h.account_id JOIN cs.phase AS p ON p.phase_id = h.to_phase_id WHERE a.external_id = 'acct-3' AND h.from_phase_id IS NULL"
	),
	'Adoption',
	'history row names new default');

# A rolled-back change leaves the default as it was.
$session_b->query_safe('BEGIN');
$session_b->query_safe("UPDATE cs.phase SET is_default = (name = 'Value')");
$session_b->query_safe('ROLLBACK');
is(insert_in_session_a('acct-4'), 'Adoption',
	'rolled-back default change not seen');

# The churn phase is cached too: B moves it to a new phase.
$session_b->query_safe(
	q{BEGIN;
	UPDATE cs.phase SET is_churn = false WHERE is_churn;
	INSERT INTO cs.phase (name, position, is_churn, owner_role) VALUES ('Lost', 80, true, 'renewal_manager');
	COMMIT});
$session_a->query_safe(
	"UPDATE cs.account SET status = 'churned' WHERE external_id = 'acct-1'");
is( $session_a->query_safe(
		"SELECT p.name FROM cs.account AS a JOIN cs.phase AS p ON p.phase_id = a.phase_id WHERE a.external_id = 'acct-1'"
	),
	'Lost',
	'committed churn phase change seen');

# B drops and re-creates the extension, so cs.phase is a new table, and
# makes Value the default. A must load the new table, not keep the old copy.
$session_b->query_safe(
	q{DROP EXTENSION pg_success CASCADE;
	CREATE EXTENSION pg_success;
	UPDATE cs.phase SET is_default = (name = 'Value')});
is(insert_in_session_a('acct-5'), 'Value',
	'default of re-created extension seen');

$session_a->quit;
$session_b->quit;
$node->stop;

done_testing();
