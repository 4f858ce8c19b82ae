# Checks that pg_success refuses to load outside shared_preload_libraries
# with an error that names the fix, that the failed load leaves neither the
# extension nor a broken server behind, and that the same server accepts
# CREATE EXTENSION once the library is preloaded.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $preload_error =
  qr/ERROR:  pg_success must be loaded via shared_preload_libraries/;
my $preload_hint = qr/HINT:  .*shared_preload_libraries/;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

# One session runs every statement, without ON_ERROR_STOP, so the final
# SELECT shows that the session outlived both errors.
my ($stdout, $stderr) = ('', '');
$node->psql(
	'postgres', q{
	CREATE EXTENSION pg_success;
	LOAD 'pg_success';
	SELECT 'session still open';
	},
	stdout => \$stdout,
	stderr => \$stderr,
	on_error_stop => 0);

my @errors = ($stderr =~ /$preload_error/g);
is(scalar @errors, 2, 'CREATE EXTENSION and LOAD both fail');
like($stderr, $preload_hint, 'error hint names shared_preload_libraries');
is($stdout, 'session still open', 'session survives the errors');

# A new session: LOAD on its own fails the same way.
my $load_result = $node->psql(
	'postgres', "LOAD 'pg_success'",
	stdout => \$stdout,
	stderr => \$stderr);
isnt($load_result, 0, 'LOAD fails in a new session');
like($stderr, $preload_error, 'LOAD error message');
like($stderr, $preload_hint, 'LOAD error hint');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server accepts queries');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'pg_success'"),
	'0',
	'extension not created');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'cs'"),
	'0',
	'schema cs not created');

# The same server with the library preloaded.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_success'\npg_success.enabled = off");
$node->restart;

my $create_result = $node->psql(
	'postgres', 'CREATE EXTENSION pg_success',
	stdout => \$stdout,
	stderr => \$stderr);
is($create_result, 0, 'CREATE EXTENSION succeeds when preloaded');
is($stderr, '', 'CREATE EXTENSION reports no errors when preloaded');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM cs.phase WHERE is_default"),
	'1',
	'journey installed when preloaded');

$node->stop;

done_testing();
