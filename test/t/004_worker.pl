# Background workers: the launcher starts one worker per database with the
# extension, ticks run the steps, failures are recorded, settings reload,
# new installations are picked up, dropped ones lose their worker, killed
# workers come back, and a hot standby runs nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init(allows_streaming => 1);
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_success'
pg_success.naptime = 1
max_worker_processes = 16
restart_after_crash = on
});
$node->start;

# Returns the pid of the worker in a database, or '' when none runs.
sub worker_pid
{
	my ($dbname) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = '$dbname'"
	);
}

ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_success launcher'"),
	'launcher runs');

# A database where the extension is created gets a worker without a restart.
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_success');
ok( $node->poll_query_until(
		'app', "SELECT ticks > 0 FROM cs.worker_status"),
	'worker ticks in new database');
ok(worker_pid('app') ne '', 'worker shows in pg_stat_activity');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'postgres'"),
	'0', 'no worker in database without the extension');

# A tick moves a due account.
$node->safe_psql('app', q{
INSERT INTO cs.team_member (name, email, role_name) VALUES ('Carl', 'carl@example.com', 'csm');
INSERT INTO cs.account (external_id, name, created_at) VALUES ('due', 'Due Ltd', now() - interval '40 days');
});
ok( $node->poll_query_until(
		'app',
		"SELECT p.name = 'Adoption' FROM cs.account AS a JOIN cs.phase AS p USING (phase_id) WHERE a.external_id = 'due'"),
	'tick runs phase transitions');
is( $node->safe_psql('app',
		"SELECT m.name FROM cs.account AS a JOIN cs.team_member AS m ON m.member_id = a.owner_id WHERE a.external_id = 'due'"),
	'Carl', 'tick assigns the owner of the new phase');

# A failing step is recorded and the next steps still run.
$node->safe_psql('app', q{
INSERT INTO cs.automation_step (step_name, position, statement)
VALUES ('broken', 5, 'SELECT 1 / 0 WHERE $1 IS NOT NULL');
INSERT INTO cs.account (external_id, name, created_at) VALUES ('due2', 'Due Two', now() - interval '40 days');
});
ok( $node->poll_query_until(
		'app', "SELECT last_error_step = 'broken' FROM cs.worker_status"),
	'failing step recorded');
like($node->safe_psql('app', 'SELECT last_error FROM cs.worker_status'),
	qr/division by zero/, 'failing step error message');
ok( $node->poll_query_until(
		'app',
		"SELECT p.name = 'Adoption' FROM cs.account AS a JOIN cs.phase AS p USING (phase_id) WHERE a.external_id = 'due2'"),
	'steps after a failing one still run');
ok( $node->poll_query_until(
		'app',
		"SELECT last_tick_counts->>'broken' = 'failed' AND last_tick_counts ? 'phase_transitions' FROM cs.worker_status"),
	'tick counts name every step');
ok($node->log_contains(qr/pg_success step "broken" failed in database "app": division by zero/),
	'failing step logged with step and database');
$node->safe_psql('app', "DELETE FROM cs.automation_step WHERE step_name = 'broken'");

# A CALL step runs a procedure that commits on its own.
$node->safe_psql('app', q{
CREATE TABLE public.tick_marks (as_of timestamptz, mark int);
CREATE PROCEDURE public.mark_tick(as_of timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.tick_marks VALUES (as_of, 1);
    COMMIT;
    INSERT INTO public.tick_marks VALUES (as_of, 2);
END;
$$;
INSERT INTO cs.automation_step (step_name, position, statement)
VALUES ('mark_tick', 50, 'CALL public.mark_tick($1)');
});
ok( $node->poll_query_until(
		'app', "SELECT count(*) >= 2 FROM public.tick_marks"),
	'procedure step runs and commits');
is( $node->safe_psql('app',
		"SELECT count(DISTINCT mark) FROM public.tick_marks WHERE as_of = (SELECT min(as_of) FROM public.tick_marks)"),
	'2', 'procedure step runs after its own commit');
ok( $node->poll_query_until(
		'app',
		"SELECT last_tick_counts ? 'mark_tick' AND last_tick_counts->'mark_tick' = 'null'::jsonb FROM cs.worker_status"),
	'procedure step has no count');
$node->safe_psql('app', "DELETE FROM cs.automation_step WHERE step_name = 'mark_tick'");

# SIGHUP: pg_success.enabled = off stops ticks, on resumes them.
$node->safe_psql('postgres', 'ALTER SYSTEM SET pg_success.enabled = off');
$node->reload;
sleep 3;
my $ticks_off = $node->safe_psql('app', 'SELECT ticks FROM cs.worker_status');
sleep 3;
is($node->safe_psql('app', 'SELECT ticks FROM cs.worker_status'),
	$ticks_off, 'no ticks while disabled');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pg_success.enabled');
$node->reload;
ok( $node->poll_query_until(
		'app', "SELECT ticks > $ticks_off FROM cs.worker_status"),
	'ticks resume after reload');

# A second database.
$node->safe_psql('postgres', 'CREATE DATABASE app2');
$node->safe_psql('app2', 'CREATE EXTENSION pg_success');
ok( $node->poll_query_until(
		'app2', "SELECT ticks > 0 FROM cs.worker_status"),
	'second database gets a worker');

# DROP EXTENSION ends the worker.
$node->safe_psql('app2', 'DROP EXTENSION pg_success');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app2'"),
	'dropped extension loses its worker');
ok($node->log_contains(qr/pg_success worker in database "app2" stopped: the extension was dropped/),
	'worker exit logged');

# pg_success.databases limits the databases.
$node->safe_psql('app2', 'CREATE EXTENSION pg_success');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app2'"),
	'recreated extension gets a worker');
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_success.databases = 'app'");
$node->reload;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app2'"),
	'deselected database loses its worker');
ok(worker_pid('app') ne '', 'selected database keeps its worker');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pg_success.databases');
$node->reload;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app2'"),
	'reselected database gets its worker back');

# A terminated worker is started again.
my $old_pid = worker_pid('app');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app' AND pid <> $old_pid"),
	'terminated worker restarted');

# kill -9: the postmaster restarts every process; the workers come back.
$old_pid = worker_pid('app');
kill 'KILL', $old_pid;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_success worker' AND datname = 'app' AND pid <> $old_pid"),
	'killed worker restarted');
my $ticks_before = $node->safe_psql('app', 'SELECT ticks FROM cs.worker_status');
ok( $node->poll_query_until(
		'app', "SELECT ticks > $ticks_before FROM cs.worker_status"),
	'ticks continue after crash restart');

# A hot standby runs no automation.
$node->backup('standby_backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'standby_backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 3;
is( $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_success%'"),
	'0', 'standby runs no launcher or worker');
$standby->stop;

$node->stop;
done_testing();
