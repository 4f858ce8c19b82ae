# Delivery outcomes other than a first-time success, against the SMTP sink:
# a 4xx reply queues the message again with a backoff delay and it is sent
# on a later call; a 5xx reply fails it; repeated 4xx replies make it dead
# after pg_success.max_attempts; a message whose lease expired (its worker
# was killed) is claimed again and sent with the Message-ID that the first
# attempt used.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SmtpSink;
use Test::More;

my $sink = SmtpSink->start('retry');

my $node = PostgreSQL::Test::Cluster->new('retry', port => 55463);
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_success'
pg_success.enabled = off
pg_success.smtp_url = '@{[ $sink->url ]}'
pg_success.mail_from = 'ops\@example.com'
pg_success.message_id_domain = 'mail.test'
pg_success.max_attempts = 3
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_success');

my $t0 = '2026-03-02 09:00:00+00';

# Runs cs.deliver_email at AS_OF and returns its standard error, where the
# WARNING of each failed message appears.
sub deliver
{
	my ($as_of) = @_;
	my ($stdout, $stderr);
	$node->psql(
		'postgres', "CALL cs.deliver_email(NULL, '$as_of')",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_die => 1);
	return $stderr;
}

# Returns COLUMNS of outbox row ID, separated by |.
sub row
{
	my ($id, $columns) = @_;
	return $node->safe_psql('postgres',
		"SELECT $columns FROM cs.email_outbox WHERE outbox_id = $id");
}

$node->safe_psql(
	'postgres', qq{
INSERT INTO cs.email_outbox
    (outbox_id, idempotency_key, recipient_kind, to_address, subject, body_text, due_at)
VALUES
    (1, 'flaky', 'address', 'flaky4xx-1\@example.com', 'Flaky', 'body', '$t0'),
    (2, 'permanent', 'address', 'fail5xx\@example.com', 'Permanent', 'body', '$t0'),
    (3, 'transient', 'address', 'fail4xx\@example.com', 'Transient', 'body', '$t0');
});

# First call: every message fails once.
my $warnings = deliver($t0);
like(
	$warnings,
	qr/WARNING:  e-mail delivery of outbox_id 1 failed, attempt 1: .*451 4\.3\.0 Try again later/,
	'4xx failure warned with outbox_id and SMTP reply');
like(
	$warnings,
	qr/WARNING:  e-mail delivery of outbox_id 2 failed, attempt 1: .*550 5\.1\.1/,
	'5xx failure warned with outbox_id and SMTP reply');

is(row(1, 'status, attempts'), 'queued|1', '4xx: queued again');
like(row(1, 'last_error'), qr/451 4\.3\.0 Try again later/, '4xx: last_error has the reply');
my $delay = row(1, "extract(epoch FROM next_attempt_at - '$t0')");
cmp_ok($delay, '>=', 24, '4xx: first delay at least 30 s - 20 %');
cmp_ok($delay, '<=', 36, '4xx: first delay at most 30 s + 20 %');
is(row(1, 'lease_until IS NULL AND leased_by IS NULL'), 't', '4xx: lease released');
is(row(1, 'message_id'), '<outbox-1.postgres@mail.test>', '4xx: Message-ID kept for the retry');

is(row(2, 'status, attempts'), 'failed|1', '5xx: failed');
like(row(2, 'last_error'), qr/550 5\.1\.1 Mailbox does not exist/, '5xx: last_error has the reply');
like(row(2, 'status_reason'), qr/reply code 550/, '5xx: status_reason names the code');

# A call at the same as_of sends nothing: the retries are not due yet.
deliver($t0);
is(row(1, 'status, attempts'), 'queued|1', 'retry not due at the same as_of');

# Past the first delay, the flaky address accepts the message.
deliver('2026-03-02 09:01:00+00');
is(row(1, 'status, attempts'), 'sent|2', '4xx then success on retry');
my ($flaky) = $sink->messages_to('flaky4xx-1@example.com');
is($flaky->{headers}{'Message-ID'}, '<outbox-1.postgres@mail.test>', 'retry carries the same Message-ID');
is(row(2, 'status, attempts'), 'failed|1', 'failed message not retried');

# The always-4xx address: the second attempt waits about 60 s, the third
# is the last one that pg_success.max_attempts = 3 allows.
is(row(3, 'status, attempts'), 'queued|2', 'repeated 4xx: second attempt queued');
$delay = row(3, "extract(epoch FROM next_attempt_at - '2026-03-02 09:01:00+00')");
cmp_ok($delay, '>=', 48, 'repeated 4xx: second delay at least 60 s - 20 %');
cmp_ok($delay, '<=', 72, 'repeated 4xx: second delay at most 60 s + 20 %');
deliver('2026-03-02 10:00:00+00');
is(row(3, 'status, attempts'), 'dead|3', 'repeated 4xx: dead after max_attempts');
like(row(3, 'status_reason'), qr/pg_success\.max_attempts \(3\) reached/, 'dead: status_reason');
like(row(3, 'last_error'), qr/451/, 'dead: last_error has the last reply');
deliver('2026-03-03 10:00:00+00');
is(row(3, 'attempts'), '3', 'dead message not retried');

# Expired leases. Row 10 was claimed by a worker that was killed before it
# recorded anything; row 11 by one that was killed after an earlier attempt
# had stored a Message-ID under another domain; row 12 is still leased by
# a live worker; row 13 had used up its attempts when its worker died.
$node->safe_psql(
	'postgres', qq{
INSERT INTO cs.email_outbox
    (outbox_id, idempotency_key, recipient_kind, to_address, subject, body_text,
     due_at, status, attempts, lease_until, leased_by, message_id)
VALUES
    (10, 'lease-1', 'address', 'lease1\@example.com', 'Lease', 'body',
     '$t0', 'sending', 1, '2026-03-04 08:55:00+00', 99999, NULL),
    (11, 'lease-2', 'address', 'lease2\@example.com', 'Lease', 'body',
     '$t0', 'sending', 1, '2026-03-04 08:55:00+00', 99999, '<outbox-11.postgres\@old-host.test>'),
    (12, 'lease-live', 'address', 'lease3\@example.com', 'Lease', 'body',
     '$t0', 'sending', 1, '2026-03-04 09:05:00+00', 99999, NULL),
    (13, 'lease-last', 'address', 'lease4\@example.com', 'Lease', 'body',
     '$t0', 'sending', 3, '2026-03-04 08:55:00+00', 99999, NULL);
});
deliver('2026-03-04 09:00:00+00');

is(row(10, 'status, attempts'), 'sent|2', 'expired lease reclaimed and sent');
my ($lease1) = $sink->messages_to('lease1@example.com');
is($lease1->{headers}{'Message-ID'}, '<outbox-10.postgres@mail.test>',
	'reclaimed message has the Message-ID of the first attempt');
is(row(11, 'status'), 'sent', 'second expired lease sent');
my ($lease2) = $sink->messages_to('lease2@example.com');
is($lease2->{headers}{'Message-ID'}, '<outbox-11.postgres@old-host.test>',
	'stored Message-ID wins over the current settings');
is(row(12, 'status, attempts, leased_by'), 'sending|1|99999', 'live lease left alone');
is(scalar($sink->messages_to('lease3@example.com')), 0, 'live lease not sent');
is(row(13, 'status, attempts'), 'dead|4', 'expired lease past max_attempts: dead');
like(row(13, 'status_reason'), qr/expired leases/, 'dead after expired leases: status_reason');
is(scalar($sink->messages_to('lease4@example.com')), 0, 'expired lease past max_attempts: not sent');

# The claim function alone: a claimed row is sending under this backend's
# lease, and a second claim at the same as_of does not take it again.
$node->safe_psql(
	'postgres', qq{
INSERT INTO cs.email_outbox (outbox_id, idempotency_key, recipient_kind, to_address, subject, body_text, due_at)
VALUES (20, 'claim', 'address', 'claim\@example.com', 'Claim', 'body', '$t0');
});
is( $node->safe_psql(
		'postgres', qq{
SELECT outbox_id, status, attempts, lease_until = timestamptz '2026-03-04 09:01:00+00' + interval '5 minutes',
       leased_by = pg_backend_pid()
FROM cs.claim_email_batch(10, '2026-03-04 09:01:00+00', '5 minutes')}),
	'20|sending|1|t|t',
	'claim marks the row sending under a lease');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM cs.claim_email_batch(10, '2026-03-04 09:01:00+00', '5 minutes')"),
	'0',
	'claimed row not claimed again during its lease');

# Records of a backend that does not hold the lease change nothing.
is( $node->safe_psql(
		'postgres', q{
SELECT cs.record_email_outcomes(ARRAY[20], ARRAY[1], ARRAY['sent'], ARRAY[NULL::timestamptz],
    ARRAY[NULL], ARRAY[NULL], ARRAY[NULL], ARRAY[now()])}),
	'0',
	'outcome of another backend not recorded');
is(row(20, 'status'), 'sending', 'row still sending');

$node->stop;
$sink->stop;

done_testing();
