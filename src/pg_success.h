/*-------------------------------------------------------------------------
 *
 * pg_success.h
 *	  Declarations shared by the modules of the pg_success extension.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/pg_success.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SUCCESS_H
#define PG_SUCCESS_H

#include "postgres.h"

#include "executor/spi.h"
#include "pgtime.h"
#include "utils/timestamp.h"

/* Name of the schema that contains every object of the extension. */
#define CS_SCHEMA_NAME "cs"

/*
 * What the current automation is doing. Triggers on cs.account consult it
 * so that a change made by an automation that writes its own history or
 * assigns owners itself is not recorded or assigned a second time.
 */
typedef struct CsAutomationContext
{
	const char *automation;		/* name recorded as changed_by, or NULL */
	TimestampTz as_of;			/* time recorded for the change */
	bool		records_history;	/* caller writes phase and owner history */
	bool		assigns_owners; /* caller runs owner assignment */
} CsAutomationContext;

extern CsAutomationContext *cs_current_automation;

/* spi_util.c */
extern Oid	cs_schema_oid(void);
extern Oid	cs_relation_oid(const char *relname);
extern Oid	cs_relation_owner(Oid relid);
extern uint64 cs_spi_execute(const char *sql, int nargs, Oid *argtypes,
							 Datum *values, const char *nulls,
							 int expected_result);
extern uint64 cs_spi_execute_plan(SPIPlanPtr *plan, const char *sql,
								  int nargs, Oid *argtypes, Datum *values,
								  const char *nulls, bool read_only,
								  int expected_result);
extern int64 cs_spi_get_int64(int row, int column, bool *isnull);
extern char *cs_spi_get_text(int row, int column);
extern Datum cs_int64_array(const int64 *values, int count);
extern Datum cs_int64_array_with_nulls(const int64 *values, const bool *isnull,
									   int count);
extern Datum cs_text_array(char **values, int count);
extern Datum cs_timestamptz_array(const TimestampTz *values, int count);
extern Datum cs_timestamptz_array_with_nulls(const TimestampTz *values,
											 const bool *isnull, int count);

/*
 * validation.c, template.c, audience.c and email_queue.c have only
 * SQL-callable functions.
 */

/* phase_cache.c */
typedef struct CsPhase
{
	int64		phase_id;
	bool		is_default;
	bool		is_churn;
} CsPhase;

extern void cs_phase_cache_init(void);
extern const CsPhase *cs_phase_default(void);
extern const CsPhase *cs_phase_churn(void);

/* history.c */
extern void cs_history_init(void);
extern void cs_history_open_frame(void);
extern void cs_history_add_entry(int64 account_id, int64 phase_id,
								 TimestampTz entered_at, bool churned);
extern Datum cs_history_flush_entries(const char *transition_table);

/* mail_delivery.c */
extern void cs_mail_delivery_init(void);

/* mail_message.c */
typedef struct CsMailMessage
{
	int64		outbox_id;
	const char *from_name;		/* NULL when the sender has no display name */
	const char *from_address;
	const char *to_name;		/* NULL when the recipient has no display name */
	const char *to_address;
	const char *subject;
	const char *body_text;
	const char *body_html;		/* NULL for a text-only message */
	const char *message_id;		/* with angle brackets */
} CsMailMessage;

extern bool cs_mail_split_mailbox(const char *mailbox, char **name,
								  char **address);
extern char *cs_mail_format(const CsMailMessage *message, pg_time_t date);

/* smtp_client.c */
typedef enum CsSmtpResult
{
	CS_SMTP_SENT,				/* the server accepted the message */
	CS_SMTP_TRANSIENT,			/* 4xx reply or network error: retry later */
	CS_SMTP_PERMANENT,			/* 5xx reply: do not retry */
	CS_SMTP_INTERRUPTED			/* a query cancel or shutdown stopped it */
} CsSmtpResult;

#define CS_SMTP_ERROR_SIZE 512

typedef struct CsSmtpOutcome
{
	CsSmtpResult result;
	bool		connection_failed;	/* no session with the server at all */
	long		reply_code;		/* last SMTP reply code, 0 when none */
	char		error[CS_SMTP_ERROR_SIZE];	/* curl error and server reply */
} CsSmtpOutcome;

typedef struct CsSmtpClient CsSmtpClient;

extern CsSmtpClient *cs_smtp_open(const char *url, const char *user,
								  const char *password, int timeout_ms);
extern void cs_smtp_send(CsSmtpClient *client, const char *envelope_from,
						 const char *recipient, const char *data,
						 CsSmtpOutcome *outcome);
extern void cs_smtp_close(CsSmtpClient *client);

/* owner_assignment.c */
extern int64 cs_assign_owners_where(const char *account_filter, int nargs,
									Oid *argtypes, Datum *values,
									TimestampTz as_of, bool at_phase_entry,
									const char *changed_by);
extern int64 cs_assign_owners_by_role(const char *account_filter,
									  const char *role, const char *strategy,
									  int nargs, Oid *argtypes, Datum *values,
									  TimestampTz as_of, bool at_phase_entry,
									  const char *changed_by);

#endif							/* PG_SUCCESS_H */
