/*-------------------------------------------------------------------------
 *
 * validation.c
 *	  Checks behind the domains cs.time_zone and cs.email. Each raises an
 *	  error that names the rejected value and how to fix it, because a
 *	  failed CHECK on a domain would not show the value.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/validation.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(cs_check_time_zone);
PG_FUNCTION_INFO_V1(cs_check_email);

/* RFC 5321 limits a forward path to 256 octets, so an address to 254. */
#define CS_EMAIL_MAX_LENGTH 254

/*
 * cs_check_time_zone
 *		Returns true for a zone name that the server's time zone database
 *		knows. Abbreviations such as EST and numeric offsets are rejected:
 *		only a named zone carries the daylight-saving rules that send
 *		windows and due dates need.
 */
Datum
cs_check_time_zone(PG_FUNCTION_ARGS)
{
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (zone[0] == '\0' || pg_tzset(zone) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid time zone \"%s\"", zone),
				 errhint("Use a name from pg_timezone_names, such as \"Europe/Berlin\" or \"America/New_York\".")));

	PG_RETURN_BOOL(true);
}

/*
 * cs_check_email
 *		Returns true for an address of the form local@domain.tld without
 *		spaces or control characters. It is a syntax check only: whether the
 *		mailbox exists shows when mail is delivered.
 */
Datum
cs_check_email(PG_FUNCTION_ARGS)
{
	char	   *address = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		length = strlen(address);
	const char *at_sign = strchr(address, '@');
	const char *problem = NULL;

	if (length > CS_EMAIL_MAX_LENGTH)
		problem = "it is longer than 254 characters";
	else if (at_sign == NULL)
		problem = "it has no @";
	else if (strchr(at_sign + 1, '@') != NULL)
		problem = "it has more than one @";
	else if (at_sign == address)
		problem = "the part before the @ is empty";
	else
	{
		const char *domain = at_sign + 1;
		const char *last_dot = strrchr(domain, '.');

		if (last_dot == NULL || last_dot == domain || last_dot[1] == '\0')
			problem = "the domain after the @ has no dot-separated name";
		else if (domain[0] == '.' || strstr(domain, "..") != NULL)
			problem = "the domain after the @ has an empty label";
		else
		{
			for (const char *c = address; *c; c++)
			{
				if ((unsigned char) *c <= ' ' || *c == 0x7f)
				{
					problem = "it contains a space or control character";
					break;
				}
			}
		}
	}

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid e-mail address \"%s\"", address),
				 errdetail("The address is rejected because %s.", problem),
				 errhint("Write the address as name@example.com.")));

	PG_RETURN_BOOL(true);
}
