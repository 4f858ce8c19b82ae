/*-------------------------------------------------------------------------
 *
 * smtp_client.c
 *	  Sends messages over SMTP with libcurl, over one connection that is
 *	  kept open for a whole batch.
 *
 * One curl easy handle serves every message of a batch. curl keeps the
 * connection in the handle's connection cache and reuses it for the next
 * transfer to the same URL. A batch therefore pays for one TCP connect, one
 * STARTTLS handshake and one AUTH. After a failed transfer curl may close
 * the connection, and the next transfer opens a new one.
 *
 * None of the callbacks raises a PostgreSQL error, because a longjmp out of
 * libcurl would leave the handle in an undefined state. They copy bytes or
 * return a flag, and the caller reports errors once curl has returned.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/smtp_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include <curl/curl.h>

#include "miscadmin.h"

/* State of one SMTP session, kept across the messages of a batch. */
struct CsSmtpClient
{
	CURL	   *curl;
	char		error_buffer[CURL_ERROR_SIZE];
	char		last_reply[CS_SMTP_ERROR_SIZE]; /* last line the server sent */
	char		error_reply[CS_SMTP_ERROR_SIZE];	/* last 4xx or 5xx line */

	/* The message being uploaded and how much of it curl has read. */
	const char *upload_data;
	size_t		upload_len;
	size_t		upload_offset;
};

static bool curl_initialized = false;

/*
 * read_upload
 *		CURLOPT_READFUNCTION: hands curl the next bytes of the message.
 */
static size_t
read_upload(char *buffer, size_t size, size_t nitems, void *userdata)
{
	CsSmtpClient *client = (CsSmtpClient *) userdata;
	size_t		wanted = size * nitems;
	size_t		left = client->upload_len - client->upload_offset;
	size_t		count = Min(wanted, left);

	memcpy(buffer, client->upload_data + client->upload_offset, count);
	client->upload_offset += count;
	return count;
}

/*
 * record_reply
 *		CURLOPT_DEBUGFUNCTION: keeps the last line the server sent and the
 *		last 4xx or 5xx line. A failure is then reported with the server's
 *		own reply, even after curl has sent QUIT and received "221 Bye".
 *		Only server replies (CURLINFO_HEADER_IN) are kept. Commands sent to
 *		the server, which include AUTH credentials, are ignored.
 */
static int
record_reply(CURL *handle, curl_infotype type, char *data, size_t size,
			 void *userdata)
{
	CsSmtpClient *client = (CsSmtpClient *) userdata;
	size_t		len = size;

	if (type != CURLINFO_HEADER_IN)
		return 0;
	while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len == 0)
		return 0;
	len = Min(len, sizeof(client->last_reply) - 1);
	memcpy(client->last_reply, data, len);
	client->last_reply[len] = '\0';
	if (data[0] == '4' || data[0] == '5')
		memcpy(client->error_reply, client->last_reply, len + 1);
	return 0;
}

/*
 * check_interrupts
 *		CURLOPT_XFERINFOFUNCTION: aborts the transfer when a query cancel or
 *		a shutdown request is pending, so that a slow server does not delay
 *		them by up to pg_success.smtp_timeout. curl calls it about once per
 *		second while it waits, and more often while data moves.
 */
static int
check_interrupts(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
				 curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/*
 * set_option
 *		Calls curl_easy_setopt and raises an error naming the option when
 *		curl rejects it.
 */
#define set_option(client, option, value) \
	check_setopt((client), #option, curl_easy_setopt((client)->curl, option, value))

static void
check_setopt(CsSmtpClient *client, const char *option, CURLcode code)
{
	if (code != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("libcurl rejected the option %s: %s",
						option, curl_easy_strerror(code))));
}

/*
 * cs_smtp_open
 *		Creates an SMTP client for a smtp:// or smtps:// URL. The connection
 *		itself opens with the first message. TLS: smtps:// starts with TLS;
 *		smtp:// upgrades with STARTTLS when the server offers it
 *		(CURLUSESSL_TRY) and goes on in plain text when it does not. Server
 *		certificates are verified against the system's trust store. AUTH is
 *		used when user is not empty. timeout_ms bounds the connect and each
 *		message's whole transfer.
 */
CsSmtpClient *
cs_smtp_open(const char *url, const char *user, const char *password,
			 int timeout_ms)
{
	CsSmtpClient *client;

	if (!curl_initialized)
	{
		CURLcode	code = curl_global_init(CURL_GLOBAL_DEFAULT);

		if (code != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not initialize libcurl: %s",
							curl_easy_strerror(code))));
		curl_initialized = true;
	}

	client = palloc0(sizeof(CsSmtpClient));
	client->curl = curl_easy_init();
	if (client->curl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	PG_TRY();
	{
		set_option(client, CURLOPT_URL, url);
		set_option(client, CURLOPT_PROTOCOLS_STR, "smtp,smtps");

		/*
		 * Without NOSIGNAL, curl may use SIGALRM for name resolution
		 * timeouts, which would replace the backend's own SIGALRM handler.
		 */
		set_option(client, CURLOPT_NOSIGNAL, 1L);
		set_option(client, CURLOPT_USE_SSL, (long) CURLUSESSL_TRY);
		set_option(client, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
		set_option(client, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
		set_option(client, CURLOPT_ERRORBUFFER, client->error_buffer);
		set_option(client, CURLOPT_UPLOAD, 1L);
		set_option(client, CURLOPT_READFUNCTION, read_upload);
		set_option(client, CURLOPT_READDATA, client);
		set_option(client, CURLOPT_DEBUGFUNCTION, record_reply);
		set_option(client, CURLOPT_DEBUGDATA, client);
		set_option(client, CURLOPT_VERBOSE, 1L);
		set_option(client, CURLOPT_XFERINFOFUNCTION, check_interrupts);
		set_option(client, CURLOPT_XFERINFODATA, client);
		set_option(client, CURLOPT_NOPROGRESS, 0L);
		if (user != NULL && user[0] != '\0')
		{
			set_option(client, CURLOPT_USERNAME, user);
			set_option(client, CURLOPT_PASSWORD, password != NULL ? password : "");
		}
	}
	PG_CATCH();
	{
		curl_easy_cleanup(client->curl);
		client->curl = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();

	return client;
}

/*
 * is_connection_failure
 *		True for curl errors that mean no SMTP session could be set up at all
 *		(the server is down, unreachable, refused TLS or AUTH). The next
 *		message would fail the same way.
 */
static bool
is_connection_failure(CURLcode code)
{
	switch (code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_LOGIN_DENIED:
		case CURLE_USE_SSL_FAILED:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
			return true;
		default:
			return false;
	}
}

/*
 * cs_smtp_send
 *		Sends one message to one recipient and fills in the outcome. SMTP
 *		and network failures are reported in the outcome, not raised:
 *		CS_SMTP_TRANSIENT for 4xx replies, network errors, timeouts and
 *		refused AUTH, CS_SMTP_PERMANENT for other 5xx replies. Only a
 *		libcurl option or memory failure raises an error.
 */
void
cs_smtp_send(CsSmtpClient *client, const char *envelope_from,
			 const char *recipient, const char *data, CsSmtpOutcome *outcome)
{
	struct curl_slist *recipients = NULL;
	char	   *from = psprintf("<%s>", envelope_from);
	char	   *to = psprintf("<%s>", recipient);
	CURLcode	code = CURLE_OK;
	long		reply_code = 0;

	memset(outcome, 0, sizeof(*outcome));
	client->error_buffer[0] = '\0';
	client->last_reply[0] = '\0';
	client->error_reply[0] = '\0';
	client->upload_data = data;
	client->upload_len = strlen(data);
	client->upload_offset = 0;

	recipients = curl_slist_append(NULL, to);
	if (recipients == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not build the libcurl recipient list")));

	PG_TRY();
	{
		set_option(client, CURLOPT_MAIL_FROM, from);
		set_option(client, CURLOPT_MAIL_RCPT, recipients);
		set_option(client, CURLOPT_INFILESIZE_LARGE, (curl_off_t) client->upload_len);

		code = curl_easy_perform(client->curl);

		/* The list belongs to this call: unhook it before it is freed. */
		set_option(client, CURLOPT_MAIL_RCPT, (struct curl_slist *) NULL);
	}
	PG_FINALLY();
	{
		curl_slist_free_all(recipients);
	}
	PG_END_TRY();

	if (curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &reply_code) != CURLE_OK)
		reply_code = 0;
	outcome->reply_code = reply_code;

	if (code == CURLE_OK)
	{
		outcome->result = CS_SMTP_SENT;
		strlcpy(outcome->error, client->last_reply, sizeof(outcome->error));
		return;
	}

	{
		const char *reply = client->error_reply[0] ? client->error_reply : client->last_reply;

		snprintf(outcome->error, sizeof(outcome->error), "%s%s%s",
				 client->error_buffer[0] ? client->error_buffer : curl_easy_strerror(code),
				 reply[0] ? "; server replied: " : "",
				 reply);
	}

	if (code == CURLE_ABORTED_BY_CALLBACK)
		outcome->result = CS_SMTP_INTERRUPTED;
	else if (is_connection_failure(code))
	{
		outcome->result = CS_SMTP_TRANSIENT;
		outcome->connection_failed = true;
	}
	else if (reply_code >= 500 && reply_code < 600)
		outcome->result = CS_SMTP_PERMANENT;
	else
		outcome->result = CS_SMTP_TRANSIENT;
}

/*
 * cs_smtp_close
 *		Closes the connection (curl sends QUIT) and frees the handle. Accepts
 *		NULL and a client whose handle is already gone.
 */
void
cs_smtp_close(CsSmtpClient *client)
{
	if (client == NULL || client->curl == NULL)
		return;
	curl_easy_cleanup(client->curl);
	client->curl = NULL;
}
