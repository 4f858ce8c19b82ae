/*-------------------------------------------------------------------------
 *
 * email_queue.c
 *	  cs.queue_email: the entry point that users call to queue an e-mail.
 *
 * Rendering and inserting are done by the SQL function
 * cs.queue_email_as_owner, which this function runs as the owner of
 * cs.email_outbox. Users thus queue mail only through templates and
 * need no privileges on the outbox, the templates or the send window.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/email_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(cs_queue_email);

#define QUEUE_EMAIL_ARGS 5

/*
 * cs_queue_email
 *		SQL function cs.queue_email(template_name, account_id, recipient,
 *		idempotency_key, as_of): returns the outbox_id of the message, new
 *		or already queued under the same key. Checks of the arguments are
 *		in cs.queue_email_as_owner.
 */
Datum
cs_queue_email(PG_FUNCTION_ARGS)
{
	Oid			argtypes[QUEUE_EMAIL_ARGS] = {TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[QUEUE_EMAIL_ARGS];
	char		nulls[QUEUE_EMAIL_ARGS];
	Oid			outbox_table;
	Oid			saved_user;
	int			saved_security_context;
	bool		isnull;
	int64		outbox_id;

	for (int i = 0; i < QUEUE_EMAIL_ARGS; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}

	cs_schema_oid();
	outbox_table = cs_relation_oid("email_outbox");
	if (!OidIsValid(outbox_table))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"cs.email_outbox\" does not exist"),
				 errhint("Run CREATE EXTENSION pg_success in this database.")));

	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(outbox_table),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cs_spi_execute("SELECT cs.queue_email_as_owner($1, $2, $3, $4, $5)",
				   QUEUE_EMAIL_ARGS, argtypes, values, nulls, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "cs.queue_email_as_owner returned " UINT64_FORMAT " rows",
			 SPI_processed);
	outbox_id = cs_spi_get_int64(0, 1, &isnull);

	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);

	if (isnull)
		elog(ERROR, "cs.queue_email_as_owner returned NULL");
	PG_RETURN_INT64(outbox_id);
}
