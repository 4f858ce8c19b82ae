/*-------------------------------------------------------------------------
 *
 * mail_delivery.c
 *	  The procedure cs.deliver_email and the pg_success.* settings of
 *	  e-mail delivery.
 *
 * Each batch runs in three steps, with a commit after the first and the
 * last:
 *	 1. claim: cs.claim_email_batch marks up to batch_size due messages
 *		'sending' under a lease, in one short transaction;
 *	 2. send: every claimed message goes over one SMTP connection, with no
 *		transaction doing work in the database meanwhile;
 *	 3. record: cs.record_email_outcomes stores every outcome in a second
 *		short transaction.
 * A worker that dies between 1 and 3 leaves its messages 'sending'; once
 * the lease has expired, the next claim takes them again. Delivery is
 * therefore at least once: a message that the server accepted just before
 * the worker died is sent a second time, with the same Message-ID, which
 * lets receivers drop the copy.
 *
 * Retry delay after a transient failure of attempt n (n >= 1):
 *		min(30 s * 2^(n - 1), 3600 s) * uniform(0.8, 1.2)
 * that is 30 s, 60 s, 120 s, ... up to one hour, each +/- 20 % so that
 * messages that failed together do not come back together.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/mail_delivery.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include <unistd.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "postmaster/interrupt.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cs_deliver_email);

/* Retry delay: the first delay, and the cap that doubling stops at. */
#define RETRY_BASE_SECONDS 30.0
#define RETRY_MAX_SECONDS 3600.0
#define RETRY_JITTER 0.2

/* Settings, described in cs_mail_delivery_init. */
static char *smtp_url = NULL;
static char *smtp_user = NULL;
static char *smtp_password = NULL;
static char *mail_from = NULL;
static char *message_id_domain = NULL;
static int	max_attempts = 5;
static int	batch_size_setting = 100;
static int	lease_seconds = 300;
static int	smtp_timeout_ms = 30000;

static emit_log_hook_type previous_emit_log_hook = NULL;

/* Outcome of one claimed message, as cs.record_email_outcomes stores it. */
typedef struct DeliveryOutcome
{
	const char *new_status;		/* sent, queued, failed, dead or released */
	TimestampTz next_attempt_at;	/* for queued */
	TimestampTz sent_at;		/* for sent */
	char	   *error;			/* NULL when there is nothing new to store */
	char	   *reason;			/* status_reason for failed and dead */
} DeliveryOutcome;

/* A claimed message and its outcome. */
typedef struct ClaimedMessage
{
	CsMailMessage mail;
	int64		attempts;		/* attempts including this one */
	DeliveryOutcome outcome;
} ClaimedMessage;

/* Settings read once per batch, so that a reload between batches applies. */
typedef struct DeliverySettings
{
	char	   *url;
	char	   *user;
	char	   *password;
	char	   *from_name;
	char	   *from_address;
	char	   *domain;
	int			max_attempts;
	int			lease_seconds;
	int			timeout_ms;
} DeliverySettings;

/*
 * check_smtp_url
 *		GUC check hook: the URL is empty or starts with smtp:// or smtps://.
 */
static bool
check_smtp_url(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		pg_strncasecmp(*newval, "smtp://", 7) == 0 ||
		pg_strncasecmp(*newval, "smtps://", 8) == 0)
		return true;
	GUC_check_errdetail("The URL must start with smtp:// or smtps://.");
	return false;
}

/*
 * check_mail_from
 *		GUC check hook: the sender is empty or a mailbox that
 *		cs_mail_split_mailbox accepts.
 */
static bool
check_mail_from(char **newval, void **extra, GucSource source)
{
	char	   *name;
	char	   *address;

	if (*newval == NULL || (*newval)[0] == '\0' ||
		cs_mail_split_mailbox(*newval, &name, &address))
		return true;
	GUC_check_errdetail("Expected an address such as ops@example.com or \"Ops Team <ops@example.com>\".");
	return false;
}

/*
 * redact_password_change
 *		emit_log_hook: removes the value from the message that the
 *		postmaster logs when a reload changes pg_success.smtp_password.
 *		PostgreSQL 15 logs 'parameter "NAME" changed to "VALUE"' for every
 *		setting that a reload changes, GUC_SUPERUSER_ONLY ones included.
 *		The untranslated format (message_id) identifies the message in any
 *		lc_messages.
 */
static void
redact_password_change(ErrorData *edata)
{
	if (edata->message_id != NULL && edata->message != NULL &&
		strcmp(edata->message_id, "parameter \"%s\" changed to \"%s\"") == 0 &&
		strstr(edata->message, "\"pg_success.smtp_password\"") != NULL)
		edata->message = pstrdup("parameter \"pg_success.smtp_password\" changed");

	if (previous_emit_log_hook)
		previous_emit_log_hook(edata);
}

/*
 * cs_mail_delivery_init
 *		Defines the pg_success.* settings of e-mail delivery. All are
 *		reloadable (PGC_SIGHUP): cs.deliver_email reads them again at the
 *		start of each batch. Installs the hook that keeps the SMTP password
 *		out of the reload messages.
 */
void
cs_mail_delivery_init(void)
{
	previous_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_password_change;

	DefineCustomStringVariable("pg_success.smtp_url",
							   "SMTP server that cs.deliver_email sends to, as smtp://host:port or smtps://host:port.",
							   "smtp:// upgrades to TLS with STARTTLS when the server offers it; smtps:// starts with TLS.",
							   &smtp_url, "", PGC_SIGHUP, 0,
							   check_smtp_url, NULL, NULL);
	DefineCustomStringVariable("pg_success.smtp_user",
							   "User name for SMTP AUTH; empty sends no AUTH.",
							   NULL, &smtp_user, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("pg_success.smtp_password",
							   "Password for SMTP AUTH.",
							   "Visible to superusers only, and never logged.",
							   &smtp_password, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("pg_success.mail_from",
							   "Sender of every message, as ops@example.com or \"Ops Team <ops@example.com>\".",
							   "The address is also the SMTP envelope sender (MAIL FROM).",
							   &mail_from, "", PGC_SIGHUP, 0,
							   check_mail_from, NULL, NULL);
	DefineCustomStringVariable("pg_success.message_id_domain",
							   "Domain part of the Message-ID headers; empty uses the server's host name.",
							   NULL, &message_id_domain, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pg_success.max_attempts",
							"Delivery attempts after which a message that keeps failing transiently becomes dead.",
							NULL, &max_attempts, 5, 1, 1000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_success.batch_size",
							"Messages that cs.deliver_email claims and sends per batch, when its batch_size argument is NULL.",
							NULL, &batch_size_setting, 100, 1, 100000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_success.delivery_lease",
							"How long a claimed message stays reserved for the worker that claimed it.",
							"Once the lease has expired, another worker may claim and send the message again.",
							&lease_seconds, 300, 10, 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_success.smtp_timeout",
							"Time limit for connecting to the SMTP server and for sending one message.",
							NULL, &smtp_timeout_ms, 30000, 100, 600000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * read_settings
 *		Copies the current settings into the current memory context and
 *		raises an error when pg_success.smtp_url or pg_success.mail_from is
 *		not set.
 */
static DeliverySettings *
read_settings(void)
{
	DeliverySettings *settings = palloc0(sizeof(DeliverySettings));

	if (smtp_url == NULL || smtp_url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_success.smtp_url is not set"),
				 errdetail("cs.deliver_email needs an SMTP server to send to."),
				 errhint("Set pg_success.smtp_url in postgresql.conf, for example to smtp://mail.example.com:587, and run SELECT pg_reload_conf().")));
	if (mail_from == NULL || mail_from[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_success.mail_from is not set"),
				 errdetail("cs.deliver_email needs a sender address for the From header and MAIL FROM."),
				 errhint("Set pg_success.mail_from in postgresql.conf, for example to \"Ops Team <ops@example.com>\", and run SELECT pg_reload_conf().")));

	settings->url = pstrdup(smtp_url);
	settings->user = pstrdup(smtp_user ? smtp_user : "");
	settings->password = pstrdup(smtp_password ? smtp_password : "");
	if (!cs_mail_split_mailbox(mail_from, &settings->from_name, &settings->from_address))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pg_success.mail_from: \"%s\"", mail_from),
				 errhint("Set it to an address such as ops@example.com or \"Ops Team <ops@example.com>\".")));

	if (message_id_domain != NULL && message_id_domain[0] != '\0')
		settings->domain = pstrdup(message_id_domain);
	else
	{
		char		host[256];

		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		settings->domain = pstrdup(host);
	}

	settings->max_attempts = max_attempts;
	settings->lease_seconds = lease_seconds;
	settings->timeout_ms = smtp_timeout_ms;
	return settings;
}

/*
 * retry_delay_seconds
 *		Delay before the next attempt after a transient failure of the given
 *		attempt; the formula is in the file header.
 */
static double
retry_delay_seconds(int64 attempts)
{
	double		delay = RETRY_BASE_SECONDS;

	for (int64 i = 1; i < attempts && delay < RETRY_MAX_SECONDS; i++)
		delay *= 2;
	delay = Min(delay, RETRY_MAX_SECONDS);
	return delay * (1.0 - RETRY_JITTER +
					2 * RETRY_JITTER * pg_prng_double(&pg_global_prng_state));
}

/*
 * utf8_text
 *		Returns a column of the current SPI row converted from the database
 *		encoding to UTF-8, or NULL for SQL NULL.
 */
static char *
utf8_text(int row, int column)
{
	char	   *value = cs_spi_get_text(row, column);

	if (value == NULL)
		return NULL;
	return pg_server_to_any(value, strlen(value), PG_UTF8);
}

/*
 * message_id_database_name
 *		Returns the current database's name with every character that RFC
 *		5322 does not allow unquoted in a Message-ID (anything but letters,
 *		digits and ._-) replaced by '_'. The mapping is fixed, so the
 *		Message-ID of a message stays the same across attempts.
 */
static char *
message_id_database_name(void)
{
	char	   *name = get_database_name(MyDatabaseId);

	if (name == NULL)
		return pstrdup("unknown");
	for (char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			*c = '_';
	return name;
}

/*
 * claim_batch
 *		Claims up to batch_size due messages through cs.claim_email_batch and
 *		copies them into the current memory context. Sets *count.
 */
static ClaimedMessage *
claim_batch(int batch_size, TimestampTz as_of, const DeliverySettings *settings,
			int *count)
{
	Oid			argtypes[3] = {INT4OID, TIMESTAMPTZOID, INTERVALOID};
	Datum		values[3];
	Interval   *lease = palloc0(sizeof(Interval));
	ClaimedMessage *messages;
	char	   *database = message_id_database_name();

	lease->time = (int64) settings->lease_seconds * USECS_PER_SEC;
	values[0] = Int32GetDatum(batch_size);
	values[1] = TimestampTzGetDatum(as_of);
	values[2] = IntervalPGetDatum(lease);

	cs_spi_execute("SELECT outbox_id, attempts, to_address, to_name, subject, "
				   "body_text, body_html, message_id "
				   "FROM cs.claim_email_batch($1, $2, $3)",
				   3, argtypes, values, NULL, SPI_OK_SELECT);

	*count = (int) SPI_processed;
	messages = palloc0(sizeof(ClaimedMessage) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		ClaimedMessage *message = &messages[i];
		char	   *stored_message_id;

		message->mail.outbox_id = cs_spi_get_int64(i, 1, NULL);
		message->attempts = cs_spi_get_int64(i, 2, NULL);
		message->mail.to_address = utf8_text(i, 3);
		message->mail.to_name = utf8_text(i, 4);
		message->mail.subject = utf8_text(i, 5);
		message->mail.body_text = utf8_text(i, 6);
		message->mail.body_html = utf8_text(i, 7);
		message->mail.from_name = settings->from_name;
		message->mail.from_address = settings->from_address;

		/*
		 * The Message-ID stored by an earlier attempt wins, so that a retry
		 * under changed settings still carries the first attempt's ID.
		 */
		stored_message_id = cs_spi_get_text(i, 8);
		if (stored_message_id != NULL)
			message->mail.message_id = stored_message_id;
		else
			message->mail.message_id = psprintf("<outbox-" INT64_FORMAT ".%s@%s>",
												message->mail.outbox_id,
												database,
												settings->domain);
	}
	return messages;
}

/*
 * set_transient_outcome
 *		Outcome of a transient failure: queued again with a retry delay, or
 *		dead once the message has used pg_success.max_attempts attempts.
 */
static void
set_transient_outcome(ClaimedMessage *message, const char *error,
					  TimestampTz as_of, const DeliverySettings *settings)
{
	message->outcome.error = pstrdup(error);
	if (message->attempts >= settings->max_attempts)
	{
		message->outcome.new_status = "dead";
		message->outcome.reason = psprintf("pg_success.max_attempts (%d) reached",
										   settings->max_attempts);
		return;
	}
	message->outcome.new_status = "queued";
	message->outcome.next_attempt_at =
		as_of + (TimestampTz) (retry_delay_seconds(message->attempts) * USECS_PER_SEC);
}

/*
 * send_batch
 *		Sends the claimed messages over one SMTP connection and sets each
 *		outcome. Messages left unsent, because the lease is half over or a
 *		cancel is pending, are released: they go back to the queue without
 *		using up an attempt.
 */
static void
send_batch(ClaimedMessage *messages, int count, TimestampTz as_of,
		   const DeliverySettings *settings, CsSmtpClient *client)
{
	TimestampTz claimed_at = GetCurrentTimestamp();
	TimestampTz send_deadline = claimed_at +
		(TimestampTz) settings->lease_seconds * USECS_PER_SEC / 2;
	char	   *connection_error = NULL;

	for (int i = 0; i < count; i++)
	{
		ClaimedMessage *message = &messages[i];
		CsSmtpOutcome smtp;
		char	   *data;

		if (message->attempts > settings->max_attempts)
		{
			/*
			 * Only expired leases get a message past max_attempts: the
			 * workers that held it died before they recorded an outcome.
			 * Stopping here keeps a message that kills its worker from
			 * being retried forever.
			 */
			message->outcome.new_status = "dead";
			message->outcome.reason = psprintf("pg_success.max_attempts (%d) reached after expired leases",
											   settings->max_attempts);
			continue;
		}

		if (QueryCancelPending || ProcDiePending ||
			GetCurrentTimestamp() > send_deadline)
		{
			message->outcome.new_status = "released";
			continue;
		}

		if (connection_error != NULL)
		{
			set_transient_outcome(message, connection_error, as_of, settings);
			continue;
		}

		data = cs_mail_format(&message->mail, (pg_time_t) time(NULL));
		cs_smtp_send(client, settings->from_address, message->mail.to_address,
					 data, &smtp);
		pfree(data);

		switch (smtp.result)
		{
			case CS_SMTP_SENT:
				message->outcome.new_status = "sent";
				message->outcome.sent_at = GetCurrentTimestamp();
				break;
			case CS_SMTP_PERMANENT:
				message->outcome.new_status = "failed";
				message->outcome.error = pstrdup(smtp.error);
				message->outcome.reason = psprintf("SMTP server rejected the message with reply code %ld",
												   smtp.reply_code);
				break;
			case CS_SMTP_TRANSIENT:
				set_transient_outcome(message, smtp.error, as_of, settings);
				if (smtp.connection_failed)
					connection_error = pstrdup(smtp.error);
				break;
			case CS_SMTP_INTERRUPTED:
				message->outcome.new_status = "released";
				break;
		}

		if (smtp.result == CS_SMTP_PERMANENT || smtp.result == CS_SMTP_TRANSIENT)
			ereport(WARNING,
					(errmsg("e-mail delivery of outbox_id " INT64_FORMAT " failed, attempt " INT64_FORMAT ": %s",
							message->mail.outbox_id, message->attempts, smtp.error),
					 errdetail("The message is now %s.", message->outcome.new_status)));
	}
}

/*
 * record_outcomes
 *		Stores the outcomes through cs.record_email_outcomes and returns how
 *		many rows it updated.
 */
static int
record_outcomes(ClaimedMessage *messages, int count)
{
	Oid			argtypes[8] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID};
	Datum		values[8];
	int64	   *ids = palloc(sizeof(int64) * count);
	int64	   *attempts = palloc(sizeof(int64) * count);
	char	  **statuses = palloc(sizeof(char *) * count);
	TimestampTz *next_attempts = palloc(sizeof(TimestampTz) * count);
	bool	   *next_attempt_nulls = palloc(sizeof(bool) * count);
	char	  **message_ids = palloc(sizeof(char *) * count);
	char	  **errors = palloc(sizeof(char *) * count);
	char	  **reasons = palloc(sizeof(char *) * count);
	TimestampTz *sent_ats = palloc(sizeof(TimestampTz) * count);
	bool	   *sent_at_nulls = palloc(sizeof(bool) * count);
	bool		isnull;

	for (int i = 0; i < count; i++)
	{
		DeliveryOutcome *outcome = &messages[i].outcome;
		bool		released = (strcmp(outcome->new_status, "released") == 0);

		ids[i] = messages[i].mail.outbox_id;
		attempts[i] = messages[i].attempts;
		statuses[i] = (char *) outcome->new_status;
		next_attempts[i] = outcome->next_attempt_at;
		next_attempt_nulls[i] = (strcmp(outcome->new_status, "queued") != 0);
		message_ids[i] = released ? NULL : (char *) messages[i].mail.message_id;
		errors[i] = outcome->error;
		reasons[i] = outcome->reason;
		sent_ats[i] = outcome->sent_at;
		sent_at_nulls[i] = (strcmp(outcome->new_status, "sent") != 0);
	}

	values[0] = cs_int64_array(ids, count);
	values[1] = cs_int64_array(attempts, count);
	values[2] = cs_text_array(statuses, count);
	values[3] = cs_timestamptz_array_with_nulls(next_attempts, next_attempt_nulls, count);
	values[4] = cs_text_array(message_ids, count);
	values[5] = cs_text_array(errors, count);
	values[6] = cs_text_array(reasons, count);
	values[7] = cs_timestamptz_array_with_nulls(sent_ats, sent_at_nulls, count);

	cs_spi_execute("SELECT cs.record_email_outcomes($1, $2, $3, $4, $5, $6, $7, $8)",
				   8, argtypes, values, NULL, SPI_OK_SELECT);
	return (int) cs_spi_get_int64(0, 1, &isnull);
}

/*
 * log_batch
 *		Logs the counts of one batch at LOG level.
 */
static void
log_batch(ClaimedMessage *messages, int count, int recorded)
{
	int			sent = 0,
				queued = 0,
				failed = 0,
				dead = 0,
				released = 0;

	for (int i = 0; i < count; i++)
	{
		const char *status = messages[i].outcome.new_status;

		if (strcmp(status, "sent") == 0)
			sent++;
		else if (strcmp(status, "queued") == 0)
			queued++;
		else if (strcmp(status, "failed") == 0)
			failed++;
		else if (strcmp(status, "dead") == 0)
			dead++;
		else
			released++;
	}

	ereport(LOG,
			(errmsg("cs.deliver_email: batch of %d messages: %d sent, %d queued for retry, %d failed, %d dead, %d released unsent",
					count, sent, queued, failed, dead, released)));
	if (recorded < count)
		ereport(WARNING,
				(errmsg("cs.deliver_email could not record the outcome of %d of %d messages",
						count - recorded, count),
				 errdetail("Their lease expired and another worker claimed them again; that worker records their outcome.")));
}

/*
 * email_is_due
 *		True when a queued message is due at as_of, or a lease has expired.
 */
static bool
email_is_due(TimestampTz as_of)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(as_of)};
	bool		due;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cs_spi_execute("SELECT EXISTS (SELECT 1 FROM cs.email_outbox AS o "
				   "WHERE (o.status = 'queued' AND o.due_at <= $1 "
				   "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $1)) "
				   "OR (o.status = 'sending' AND o.lease_until < $1))",
				   1, argtypes, values, NULL, SPI_OK_SELECT);
	due = strcmp(cs_spi_get_text(0, 1), "t") == 0;
	SPI_finish();
	return due;
}

/*
 * cs_deliver_email
 *		Procedure cs.deliver_email(batch_size, as_of): claims, sends and
 *		records batches until no message is due at as_of. It commits after
 *		each claim and each record step, so it must run non-atomically: as
 *		a CALL of its own, outside a transaction block.
 *
 * The procedure has no SET search_path clause, because PostgreSQL runs a
 * procedure with a SET clause atomically and would reject the commits. Its
 * statements use only schema-qualified functions that pin search_path
 * themselves.
 */
Datum
cs_deliver_email(PG_FUNCTION_ARGS)
{
	CallContext *call = (CallContext *) fcinfo->context;
	int			batch_size;
	TimestampTz as_of;
	MemoryContext delivery_context;
	MemoryContext batch_context;
	MemoryContext saved_context = CurrentMemoryContext;
	CsSmtpClient *volatile client = NULL;
	char	   *volatile client_url = NULL;
	int64		total_sent = 0;

	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("cs.deliver_email must be called with CALL outside a transaction block"),
				 errdetail("It commits after claiming and after recording each batch, so that no claimed message depends on a long transaction."),
				 errhint("Run CALL cs.deliver_email() as a statement of its own, not inside BEGIN, a function or a DO block.")));

	batch_size = PG_ARGISNULL(0) ? batch_size_setting : PG_GETARG_INT32(0);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1, got %d", batch_size)));
	as_of = PG_ARGISNULL(1) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(1);

	/*
	 * Fail before claiming anything when the settings are incomplete, but
	 * only when a message is due: a worker tick in a database that sends no
	 * mail returns quietly.
	 */
	if (smtp_url == NULL || smtp_url[0] == '\0' ||
		mail_from == NULL || mail_from[0] == '\0')
	{
		if (!email_is_due(as_of))
			PG_RETURN_VOID();
		read_settings();
	}

	/*
	 * PortalContext lives until the CALL ends, across the commits below;
	 * SPI's procedure context would do as well but is freed by SPI_finish.
	 */
	delivery_context = AllocSetContextCreate(PortalContext ? PortalContext : TopMemoryContext,
											 "cs.deliver_email",
											 ALLOCSET_DEFAULT_SIZES);
	batch_context = AllocSetContextCreate(delivery_context,
										  "cs.deliver_email batch",
										  ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");

	PG_TRY();
	{
		for (;;)
		{
			DeliverySettings *settings;
			ClaimedMessage *messages;
			int			count;
			int			recorded;

			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}

			MemoryContextReset(batch_context);
			MemoryContextSwitchTo(batch_context);
			settings = read_settings();

			messages = claim_batch(batch_size, as_of, settings, &count);
			SPI_commit();
			MemoryContextSwitchTo(batch_context);
			if (count == 0)
				break;

			/* A reload may have changed the URL: connect anew then. */
			if (client != NULL && strcmp(client_url, settings->url) != 0)
			{
				cs_smtp_close(client);
				client = NULL;
			}
			if (client == NULL)
			{
				MemoryContextSwitchTo(delivery_context);
				client_url = pstrdup(settings->url);
				client = cs_smtp_open(settings->url, settings->user,
									  settings->password, settings->timeout_ms);
				MemoryContextSwitchTo(batch_context);
			}

			send_batch(messages, count, as_of, settings, client);

			/*
			 * A cancel that stopped the batch waits until the outcomes of the
			 * messages already sent are stored, or they would be sent again
			 * once their lease expires.
			 */
			HOLD_INTERRUPTS();
			recorded = record_outcomes(messages, count);
			SPI_commit();
			RESUME_INTERRUPTS();
			MemoryContextSwitchTo(batch_context);

			log_batch(messages, count, recorded);
			for (int i = 0; i < count; i++)
				if (strcmp(messages[i].outcome.new_status, "sent") == 0)
					total_sent++;
		}
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(saved_context);
		cs_smtp_close(client);
		MemoryContextDelete(delivery_context);
	}
	PG_END_TRY();

	SPI_finish();
	MemoryContextSwitchTo(saved_context);

	ereport(DEBUG1,
			(errmsg("cs.deliver_email sent " INT64_FORMAT " messages", total_sent)));
	PG_RETURN_VOID();
}
