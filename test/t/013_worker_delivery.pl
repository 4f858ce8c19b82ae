# The automation worker delivers the outbox, and a worker killed with
# SIGKILL in the middle of a batch loses nothing: after the crash restart
# every message is sent, only messages that were in flight are sent twice,
# and a message sent twice carries the same Message-ID both times.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SmtpSink;
use Test::More;
use Time::HiRes qw(usleep);

my $message_count = 3000;
my $batch_size = 50;

my $sink = SmtpSink->start('worker_delivery');

my $node = PostgreSQL::Test::Cluster->new('worker_delivery');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_success'
restart_after_crash = on
pg_success.naptime = 1
pg_success.smtp_url = '@{[ $sink->url ]}'
pg_success.mail_from = 'Ops Team <ops\@example.com>'
pg_success.message_id_domain = 'mail.test'
pg_success.batch_size = $batch_size
pg_success.delivery_lease = 10
});
$node->start;

# Nothing is queued while the worker starts.
$node->safe_psql('postgres', 'CREATE EXTENSION pg_success');
$node->safe_psql('postgres',
	"UPDATE cs.automation_step SET enabled = false WHERE step_name <> 'email_delivery'");
ok($node->poll_query_until('postgres', 'SELECT ticks > 0 FROM cs.worker_status'),
	'worker ticks');

$node->safe_psql(
	'postgres', qq{
INSERT INTO cs.email_outbox (idempotency_key, recipient_kind, to_address, subject, body_text, due_at)
SELECT 'bulk-' || i, 'address', 'user' || i || '\@example.com', 'Message ' || i, 'Body ' || i,
       now() - interval '1 hour'
FROM generate_series(1, $message_count) AS i;
});

# Wait until the worker is part-way through, then kill it mid-batch.
my $sent_before_kill = 0;
for (my $i = 0; $i < 600; $i++)
{
	$sent_before_kill = $node->safe_psql('postgres',
		"SELECT count(*) FROM cs.email_outbox WHERE status = 'sent'");
	last if $sent_before_kill >= 200;
	usleep(50_000);
}
cmp_ok($sent_before_kill, '>=', 200, 'worker was sending before the kill');
cmp_ok($sent_before_kill, '<', $message_count, 'worker had not finished before the kill');

my $worker_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_success worker'");
ok($worker_pid =~ /^\d+$/, 'worker pid found');
kill 'KILL', $worker_pid;

# After the crash restart the worker claims the rest, and the messages of
# the killed batch once their lease has expired.
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = $message_count FROM cs.email_outbox WHERE status = 'sent'",
		't'),
	'every message sent after the crash');
isnt(
	$node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_success worker'"),
	$worker_pid,
	'a new worker delivered the rest');
ok($node->log_contains(qr/was terminated by signal 9/), 'server logged the killed worker');

# Compare what the sink received with the outbox.
my %copies;
foreach my $message ($sink->messages)
{
	$copies{ $message->{headers}{'Message-ID'} }++;
}
my @duplicates = grep { $copies{$_} > 1 } keys %copies;

is(scalar(keys %copies), $message_count, 'sink has every Message-ID');
cmp_ok(scalar(@duplicates), '<=', $batch_size,
	'only messages of the killed batch were sent twice');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM cs.email_outbox WHERE message_id IS NULL OR message_id !~ '^<outbox-[0-9]+\\.postgres\@mail\\.test>\$'"
	),
	'0',
	'every row has its stable Message-ID');

my %outbox_ids = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', 'SELECT message_id FROM cs.email_outbox');
is(scalar(grep { !$outbox_ids{$_} } keys %copies), 0,
	'every received Message-ID, duplicates included, is the one stored for its row');

$node->stop;
$sink->stop;
done_testing();
