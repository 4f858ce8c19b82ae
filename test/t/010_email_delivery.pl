# Delivers outbox rows to a real SMTP server (test/smtp/smtp_sink.py) and
# checks the stored messages: envelope, From, To with display names,
# Subject (RFC 2047 when not ASCII), Message-ID, Date, MIME structure,
# UTF-8 bodies, dot lines, header injection, and one connection per batch.

use strict;
use warnings;
use utf8;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SmtpSink;
use Test::More;

my $sink = SmtpSink->start('delivery');

my $node = PostgreSQL::Test::Cluster->new('delivery', port => 55462);
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_success'
pg_success.enabled = off
pg_success.smtp_url = '@{[ $sink->url ]}'
pg_success.mail_from = 'Ops Team <ops\@example.com>'
pg_success.message_id_domain = 'mail.test'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_success');

my $as_of = '2026-03-02 09:00:00+00';

# Rows: a plain ASCII message with dot lines, a UTF-8 message with an HTML
# part, a message with a header injection attempt and a line longer than
# SMTP allows, and one that is not due yet.
my $long_line = 'x' x 1500;
$node->safe_psql(
	'postgres', qq{
INSERT INTO cs.email_outbox
    (outbox_id, idempotency_key, recipient_kind, to_address, to_name, subject, body_text, body_html, due_at)
VALUES
    (1, 'plain', 'address', 'ana\@example.com', 'Ana Example', 'Welcome to Acme',
     E'Hello Ana,\\n.\\n.hidden line\\nBye', NULL, '$as_of'),
    (2, 'utf8', 'address', 'zoe\@example.com', 'Zoë Müller', 'Grüße aus Köln – 東京',
     E'Hallo Zoë,\\nzweite Zeile', '<p>Hallo <b>Zoë</b></p>', '$as_of'),
    (3, 'inject', 'address', 'eve\@example.com', 'Eve "Q" Doe', E'Hi\\r\\nBcc: evil\@example.com',
     '$long_line', NULL, '$as_of'),
    (4, 'later', 'address', 'later\@example.com', NULL, 'Not yet',
     'later', NULL, '2026-03-03 09:00:00+00');
});

my ($stdout, $stderr);
$node->psql(
	'postgres',
	"CALL cs.deliver_email(2, '$as_of')",
	stdout => \$stdout,
	stderr => \$stderr,
	on_error_die => 1);

is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(outbox_id || ':' || status || ':' || attempts, ' ' ORDER BY outbox_id) FROM cs.email_outbox}
	),
	'1:sent:1 2:sent:1 3:sent:1 4:queued:0',
	'due rows sent, row not due stays queued');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM cs.email_outbox WHERE status = 'sent' AND sent_at IS NOT NULL AND lease_until IS NULL AND leased_by IS NULL AND next_attempt_at IS NULL AND last_error IS NULL"
	),
	'3',
	'sent rows have sent_at and no lease');
is( $node->safe_psql(
		'postgres', 'SELECT message_id FROM cs.email_outbox WHERE outbox_id = 2'),
	'<outbox-2.postgres@mail.test>',
	'message_id stored as outbox-ID.DBNAME@domain');

my $log = slurp_file($node->logfile);
like(
	$log,
	qr/batch of 2 messages: 2 sent, 0 queued for retry, 0 failed, 0 dead/,
	'first batch logged');
like(
	$log,
	qr/batch of 1 messages: 1 sent/,
	'second batch logged');

my @messages = $sink->messages;
is(scalar @messages, 3, 'sink received three messages');

my ($plain) = $sink->messages_to('ana@example.com');
my ($utf8) = $sink->messages_to('zoe@example.com');
my ($inject) = $sink->messages_to('eve@example.com');

# Envelope and headers of the plain message.
is($plain->{mail_from}, 'ops@example.com', 'envelope sender is mail_from address');
is($plain->{headers}{From}, 'Ops Team <ops@example.com>', 'From header');
is($plain->{headers}{To}, 'Ana Example <ana@example.com>', 'To header with display name');
is($plain->{headers}{Subject}, 'Welcome to Acme', 'ASCII subject');
is($plain->{headers}{'Message-ID'}, '<outbox-1.postgres@mail.test>', 'Message-ID header');
like(
	$plain->{headers}{Date},
	qr/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/,
	'Date header in RFC 5322 form');
is($plain->{headers}{'MIME-Version'}, '1.0', 'MIME-Version header');
is($plain->{content_type}, 'text/plain', 'text-only message is text/plain');
is($plain->{parts}[0]{charset}, 'utf-8', 'text part declares UTF-8');
is($plain->{parts}[0]{transfer_encoding}, '7bit', 'ASCII body sent as 7bit');
is( $plain->{parts}[0]{text} =~ s/\r\n/\n/gr,
	"Hello Ana,\n.\n.hidden line\nBye\n",
	'dot lines survive the transfer');
is_deeply($plain->{defects}, [], 'plain message has no MIME defects');

# The UTF-8 message with an HTML part.
like($utf8->{raw}, qr/^Subject: =\?UTF-8\?B\?/m, 'non-ASCII subject is RFC 2047 encoded');
is($utf8->{headers}{Subject}, 'Grüße aus Köln – 東京', 'encoded subject decodes');
is($utf8->{to_addresses}[0]{display_name}, 'Zoë Müller', 'non-ASCII display name decodes');
is($utf8->{to_addresses}[0]{addr_spec}, 'zoe@example.com', 'recipient address');
is($utf8->{content_type}, 'multipart/alternative', 'HTML message is multipart/alternative');
is(scalar @{ $utf8->{parts} }, 2, 'multipart message has two parts');
is($utf8->{parts}[0]{content_type}, 'text/plain', 'first part is text/plain');
is($utf8->{parts}[1]{content_type}, 'text/html', 'second part is text/html');
is( $utf8->{parts}[0]{text} =~ s/\r\n/\n/gr,
	"Hallo Zoë,\nzweite Zeile\n",
	'UTF-8 text part decodes');
is( $utf8->{parts}[1]{text} =~ s/\r\n/\n/gr,
	"<p>Hallo <b>Zoë</b></p>\n",
	'UTF-8 HTML part decodes');
is_deeply($utf8->{defects}, [], 'multipart message has no MIME defects');

# Header injection and the line length limit.
unlike($inject->{raw}, qr/^Bcc:/mi, 'CR LF in subject adds no header');
is($inject->{headers}{Subject}, 'Hi  Bcc: evil@example.com', 'control characters become spaces');
is($inject->{to_addresses}[0]{display_name}, 'Eve "Q" Doe', 'quotes in display name escaped');
is_deeply($inject->{rcpt_tos}, ['eve@example.com'], 'only the outbox recipient in the envelope');
cmp_ok($inject->{max_line_length}, '<=', 998, 'no line longer than 998 bytes');
is($inject->{parts}[0]{transfer_encoding}, 'base64', 'long line sent as base64');
is($inject->{parts}[0]{text} =~ s/\r\n/\n/gr, "$long_line\n", 'long line decodes');

# The first batch (rows 1 and 2) came over one connection.
is($plain->{peer_port}, $utf8->{peer_port}, 'one SMTP connection per batch');

# Nothing is due any more: a second call sends nothing.
$node->safe_psql('postgres', "CALL cs.deliver_email(NULL, '$as_of')");
is(scalar($sink->messages), 3, 'second call sends nothing');

# The row that was not due is sent once it is.
$node->safe_psql('postgres', "CALL cs.deliver_email(NULL, '2026-03-03 09:00:00+00')");
is( $node->safe_psql('postgres', 'SELECT status FROM cs.email_outbox WHERE outbox_id = 4'),
	'sent',
	'row sent once due');
my ($later) = $sink->messages_to('later@example.com');
is($later->{headers}{To}, 'later@example.com', 'To header without display name');

# A database name with characters that a Message-ID cannot contain.
$node->safe_psql('postgres', 'CREATE DATABASE "sales db@eu"');
$node->safe_psql('sales db@eu', 'CREATE EXTENSION pg_success');
$node->safe_psql(
	'sales db@eu', qq{
INSERT INTO cs.email_outbox (outbox_id, idempotency_key, recipient_kind, to_address, subject, body_text, due_at)
VALUES (1, 'other-db', 'address', 'otherdb\@example.com', 'Other database', 'body', '$as_of');
CALL cs.deliver_email(NULL, '$as_of');
});
my ($other_db) = $sink->messages_to('otherdb@example.com');
is($other_db->{headers}{'Message-ID'}, '<outbox-1.sales_db_eu@mail.test>',
	'database name made safe for Message-ID');

$node->stop;
$sink->stop;

done_testing();
