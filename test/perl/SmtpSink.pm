# SmtpSink: starts test/smtp/smtp_sink.py on 127.0.0.1 for a TAP test and
# reads back the messages it stored.
#
#   my $sink = SmtpSink->start('main');            # a free port
#   my $sink = SmtpSink->start('auth', auth => 'user:password');
#   $sink->port; $sink->url;                       # smtp://127.0.0.1:PORT
#   my @messages = $sink->messages;                # summaries, oldest first
#   $sink->stop; $sink->restart;                   # same port, same folder
#
# Each summary is the sink's JSON file as a hash, plus the key raw with the
# message as received.

package SmtpSink;

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

# The sink needs aiosmtpd from the Debian package python3-aiosmtpd, which
# only Debian's own interpreter sees.
my $python = '/usr/bin/python3';
my $sink_script =
  ($ENV{SOURCE_DIR} // dirname(__FILE__) . '/../..') . '/test/smtp/smtp_sink.py';

# start NAME, %options: starts a sink and waits until it listens. Options:
# port (default 0, a free port) and auth (USER:PASSWORD to require AUTH).
sub start
{
	my ($class, $name, %options) = @_;
	my $self = bless {
		name => $name,
		dir => PostgreSQL::Test::Utils::tempdir("sink_$name"),
		port => $options{port} // 0,
		auth => $options{auth},
	}, $class;
	$self->_launch;
	return $self;
}

sub _launch
{
	my ($self) = @_;
	my $port_file = "$self->{dir}/port";
	my @command = (
		$python, $sink_script,
		'--dir' => "$self->{dir}/messages",
		'--port' => $self->{port},
		'--port-file' => $port_file);
	push @command, '--auth' => $self->{auth} if defined $self->{auth};

	unlink $port_file;
	$self->{handle} = IPC::Run::start(\@command, '>>',
		"$self->{dir}/sink.log", '2>>', "$self->{dir}/sink.log");

	for (my $waited = 0; !-s $port_file; $waited++)
	{
		if ($waited > 300 || !$self->{handle}->pumpable)
		{
			die "SMTP sink $self->{name} did not start:\n"
			  . PostgreSQL::Test::Utils::slurp_file("$self->{dir}/sink.log");
		}
		usleep(100_000);
	}
	$self->{port} = PostgreSQL::Test::Utils::slurp_file($port_file);
	return;
}

sub port { return $_[0]->{port}; }

sub url { return 'smtp://127.0.0.1:' . $_[0]->{port}; }

# stop: stops the sink with SIGTERM and waits for it to exit.
sub stop
{
	my ($self) = @_;
	return unless $self->{handle};
	$self->{handle}->signal('TERM');
	$self->{handle}->finish;
	delete $self->{handle};
	return;
}

# restart: starts the sink again on the port it had, keeping its messages.
sub restart
{
	my ($self) = @_;
	$self->stop;
	$self->_launch;
	return;
}

# messages: the stored messages, oldest first.
sub messages
{
	my ($self) = @_;
	my @messages;
	foreach my $json_file (sort glob("$self->{dir}/messages/*.json"))
	{
		my $summary = decode_json(PostgreSQL::Test::Utils::slurp_file($json_file));
		(my $raw_file = $json_file) =~ s/\.json$/.eml/;
		$summary->{raw} = PostgreSQL::Test::Utils::slurp_file($raw_file);
		push @messages, $summary;
	}
	return @messages;
}

# message_to ADDRESS: the messages whose envelope recipient is ADDRESS.
sub messages_to
{
	my ($self, $address) = @_;
	return grep { grep { $_ eq $address } @{ $_->{rcpt_tos} } } $self->messages;
}

sub DESTROY
{
	my ($self) = @_;
	$self->{handle}->kill_kill if $self->{handle};
	return;
}

1;
