# Delivery settings and an unavailable SMTP server: messages stay queued
# with a retry time and the connection error while the server is down and
# are sent once it is back; a reload of pg_success.smtp_url reaches a
# session that stays open; missing or invalid settings and a CALL inside a
# transaction block are rejected before anything is claimed; SMTP AUTH
# works, a wrong password is a transient failure, and the password appears
# neither in the log nor in the outbox nor to other users.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SmtpSink;
use Test::More;
use Time::HiRes qw(usleep);

my $sink = SmtpSink->start('down');
my $other_sink = SmtpSink->start('other');
my $password = 'Secret-pw-4711';
my $auth_sink = SmtpSink->start('auth', auth => "mailer:$password");

my $node = PostgreSQL::Test::Cluster->new('settings', port => 55464);
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_success'
pg_success.enabled = off
pg_success.smtp_url = '@{[ $sink->url ]}'
pg_success.mail_from = 'ops\@example.com'
pg_success.message_id_domain = 'mail.test'
pg_success.smtp_timeout = '5s'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_success');

my $t0 = '2026-03-02 09:00:00+00';
my $next_id = 1;

# Queues a message to ADDRESS, due at $t0, and returns its outbox_id.
sub queue_message
{
	my ($address) = @_;
	my $id = $next_id++;
	$node->safe_psql(
		'postgres', qq{
INSERT INTO cs.email_outbox (outbox_id, idempotency_key, recipient_kind, to_address, subject, body_text, due_at)
VALUES ($id, 'message-$id', 'address', '$address', 'Message $id', 'body', '$t0')});
	return $id;
}

# Runs SQL in a new session and returns its exit code and standard error.
sub run_sql
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	my $result = $node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr);
	return ($result, $stderr);
}

# Sets a pg_success setting in postgresql.conf, where an operator sets it,
# and reloads the configuration. ALTER SYSTEM would do as well, but the
# test cluster logs every statement, the password included.
sub reload_setting
{
	my ($name, $value) = @_;
	$node->append_conf('postgresql.conf', "$name = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	return;
}

sub status_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || '|' || attempts FROM cs.email_outbox WHERE outbox_id = $id");
}

# SMTP server down: every message of the batch stays queued.
$sink->stop;
my @down_ids = map { queue_message("down$_\@example.com") } 1 .. 3;
my ($result, $stderr) = run_sql("CALL cs.deliver_email(NULL, '$t0')");
is($result, 0, 'server down: CALL succeeds');
like($stderr, qr/WARNING:  e-mail delivery of outbox_id 1 failed, attempt 1: .*connect/i,
	'server down: connection failure warned');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status || ':' || attempts, ' ' ORDER BY outbox_id) FROM cs.email_outbox"),
	'queued:1 queued:1 queued:1',
	'server down: messages stay queued');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM cs.email_outbox WHERE next_attempt_at > '$t0' AND last_error ~* 'connect' AND lease_until IS NULL"),
	'3',
	'server down: next_attempt_at and last_error set');

# The server comes back on the same port: the retry delivers everything.
$sink->restart;
run_sql("CALL cs.deliver_email(NULL, '2026-03-02 09:05:00+00')");
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status || ':' || attempts, ' ' ORDER BY outbox_id) FROM cs.email_outbox"),
	'sent:2 sent:2 sent:2',
	'server back: messages sent on retry');
is(scalar($sink->messages), 3, 'server back: sink received three messages');

# Reload: a session that stays open picks up a new smtp_url.
my $session = $node->background_psql('postgres');
my $before_reload = queue_message('reload1@example.com');
$session->query_safe("CALL cs.deliver_email(NULL, '$t0')");
is(scalar($sink->messages_to('reload1@example.com')), 1, 'before reload: sent to the first server');

reload_setting('pg_success.smtp_url', $other_sink->url);
my $seen_url = '';
for (my $i = 0; $i < 100 && $seen_url ne $other_sink->url; $i++)
{
	$seen_url = $session->query_safe('SHOW pg_success.smtp_url');
	usleep(100_000) if $seen_url ne $other_sink->url;
}
is($seen_url, $other_sink->url, 'open session sees the reloaded smtp_url');
my $after_reload = queue_message('reload2@example.com');
$session->query_safe("CALL cs.deliver_email(NULL, '$t0')");
is(scalar($other_sink->messages_to('reload2@example.com')), 1, 'after reload: sent to the new server');
is(scalar($sink->messages_to('reload2@example.com')), 0, 'after reload: not sent to the old server');
$session->quit;

# Missing settings are reported before anything is claimed.
my $unsent = queue_message('unsent@example.com');
reload_setting('pg_success.smtp_url', '');
($result, $stderr) = run_sql("CALL cs.deliver_email(NULL, '$t0')");
isnt($result, 0, 'missing smtp_url: CALL fails');
like($stderr, qr/ERROR:  pg_success\.smtp_url is not set/, 'missing smtp_url: error message');
like($stderr, qr/HINT:  Set pg_success\.smtp_url in postgresql\.conf/, 'missing smtp_url: hint names the setting');
is(status_of($unsent), 'queued|0', 'missing smtp_url: nothing claimed');

reload_setting('pg_success.smtp_url', $other_sink->url);
reload_setting('pg_success.mail_from', '');
($result, $stderr) = run_sql("CALL cs.deliver_email(NULL, '$t0')");
like($stderr, qr/ERROR:  pg_success\.mail_from is not set/, 'missing mail_from: error message');
like($stderr, qr/HINT:  Set pg_success\.mail_from/, 'missing mail_from: hint names the setting');
is(status_of($unsent), 'queued|0', 'missing mail_from: nothing claimed');
reload_setting('pg_success.mail_from', 'ops@example.com');

($result, $stderr) = run_sql("ALTER SYSTEM SET pg_success.smtp_url = 'http://127.0.0.1:1'");
like($stderr, qr/invalid value for parameter "pg_success\.smtp_url"/, 'non-SMTP URL rejected');
like($stderr, qr/must start with smtp:\/\/ or smtps:\/\//, 'URL error names the schemes');
($result, $stderr) = run_sql("ALTER SYSTEM SET pg_success.mail_from = 'not an address'");
like($stderr, qr/invalid value for parameter "pg_success\.mail_from"/, 'invalid mail_from rejected');

# CALL inside a transaction block cannot commit between the steps.
($result, $stderr) = run_sql("BEGIN; CALL cs.deliver_email(NULL, '$t0'); COMMIT;");
like($stderr, qr/ERROR:  cs\.deliver_email must be called with CALL outside a transaction block/,
	'CALL in a transaction block rejected');
($result, $stderr) = run_sql("CALL cs.deliver_email(0, '$t0')");
like($stderr, qr/ERROR:  batch_size must be at least 1, got 0/, 'batch_size 0 rejected');
is(status_of($unsent), 'queued|0', 'rejected calls claim nothing');

run_sql("CALL cs.deliver_email(NULL, '$t0')");
is(status_of($unsent), 'sent|1', 'sent once the settings are complete');

# SMTP AUTH with the right password, then a wrong one.
reload_setting('pg_success.smtp_url', $auth_sink->url);
reload_setting('pg_success.smtp_user', 'mailer');
reload_setting('pg_success.smtp_password', $password);
my $auth_ok = queue_message('auth-ok@example.com');
run_sql("CALL cs.deliver_email(NULL, '$t0')");
is(status_of($auth_ok), 'sent|1', 'AUTH with the right password: sent');
is(scalar($auth_sink->messages_to('auth-ok@example.com')), 1, 'AUTH sink received the message');

reload_setting('pg_success.smtp_password', 'wrong-password');
my $auth_bad = queue_message('auth-bad@example.com');
($result, $stderr) = run_sql("CALL cs.deliver_email(NULL, '$t0')");
is(status_of($auth_bad), 'queued|1', 'AUTH with a wrong password: queued for retry');
like($node->safe_psql('postgres', "SELECT last_error FROM cs.email_outbox WHERE outbox_id = $auth_bad"),
	qr/535/, 'AUTH failure: last_error has the 535 reply');

my $server_log = slurp_file($node->logfile);
unlike($server_log, qr/\Q$password\E|wrong-password/, 'password not in the server log');
like($server_log, qr/LOG:  parameter "pg_success\.smtp_password" changed$/m,
	'reload message of the password redacted');
unlike($stderr, qr/\Q$password\E|wrong-password/, 'password not in client messages');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM cs.email_outbox WHERE last_error ~ '$password|wrong-password'"),
	'0',
	'password not in the outbox');

$node->safe_psql('postgres', 'CREATE ROLE plain_user LOGIN');
($result, $stderr) = run_sql('SET ROLE plain_user; SHOW pg_success.smtp_password');
like($stderr, qr/ERROR:  must be superuser/, 'password hidden from other users');
is( $node->safe_psql(
		'postgres',
		"SET ROLE plain_user; SELECT count(*) FROM pg_settings WHERE name = 'pg_success.smtp_password'"),
	'0',
	'password not listed in pg_settings for other users');

$node->stop;
$sink->stop;
$other_sink->stop;
$auth_sink->stop;

done_testing();
