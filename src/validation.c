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
#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cs_check_time_zone);
PG_FUNCTION_INFO_V1(cs_check_email);

/* RFC 5321 limits a forward path to 256 octets, so an address to 254. */
#define CS_EMAIL_MAX_LENGTH 254

/* RFC 5321 limits the local part of an address to 64 octets. */
#define CS_EMAIL_MAX_LOCAL_LENGTH 64

/* Maximum number of bytes of a rejected value that an error message repeats. */
#define CS_MAX_ECHOED_LENGTH 80

/* Names of the time zone database, sorted, loaded on first use. */
static char **zone_names = NULL;
static int	zone_count = 0;

static int	compare_names(const void *left, const void *right);
static void load_zone_names(void);
static char *echoed_value(const char *value);

static int
compare_names(const void *left, const void *right)
{
	return strcmp(*(char *const *) left, *(char *const *) right);
}

/*
 * load_zone_names
 *		Reads the names of the server's time zone database, the ones that
 *		pg_timezone_names lists, into a sorted array in TopMemoryContext.
 */
static void
load_zone_names(void)
{
	pg_tzenum  *directory;
	pg_tz	   *zone;
	int			capacity = 1024;
	char	  **names;
	int			count = 0;

	names = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * capacity);
	directory = pg_tzenumerate_start();
	while ((zone = pg_tzenumerate_next(directory)) != NULL)
	{
		if (count == capacity)
		{
			capacity *= 2;
			names = repalloc(names, sizeof(char *) * capacity);
		}
		names[count++] = MemoryContextStrdup(TopMemoryContext,
											 pg_get_timezone_name(zone));
	}
	pg_tzenumerate_end(directory);

	qsort(names, count, sizeof(char *), compare_names);
	zone_names = names;
	zone_count = count;
}

/*
 * echoed_value
 *		Returns the value, cut to CS_MAX_ECHOED_LENGTH bytes with "..."
 *		appended when longer, so that an error does not repeat a huge input.
 */
static char *
echoed_value(const char *value)
{
	size_t		length = strlen(value);
	int			cut;

	if (length <= CS_MAX_ECHOED_LENGTH)
		return pstrdup(value);
	cut = pg_mbcliplen(value, (int) length, CS_MAX_ECHOED_LENGTH);
	return psprintf("%.*s...", cut, value);
}

/*
 * cs_check_time_zone
 *		Returns true for a name of the server's time zone database, spelled
 *		exactly as pg_timezone_names lists it. Abbreviations such as EST,
 *		POSIX specifications such as UTC+2, offsets and other spellings are
 *		rejected: only a named zone carries the daylight-saving rules that
 *		send windows and due dates need, and one spelling per zone keeps
 *		equal zones equal.
 */
Datum
cs_check_time_zone(PG_FUNCTION_ARGS)
{
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (zone_names == NULL)
		load_zone_names();

	if (bsearch(&zone, zone_names, zone_count, sizeof(char *), compare_names) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid time zone \"%s\"", echoed_value(zone)),
				 errdetail("Only names of the time zone database are accepted, spelled as pg_timezone_names lists them."),
				 errhint("Use a name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\".")));

	PG_RETURN_BOOL(true);
}

/*
 * cs_check_email
 *		Returns true for an address of the form local@domain.tld: ASCII
 *		only, no spaces, control characters or the characters ()<>[],;:\"
 *		that need quoting, a local part of at most 64 characters without
 *		leading, trailing or doubled dots, and a domain of dot-separated
 *		labels of letters, digits and hyphens that neither start nor end
 *		with a hyphen. It is a syntax check only: whether the mailbox exists
 *		shows when mail is delivered.
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
	else if (at_sign - address > CS_EMAIL_MAX_LOCAL_LENGTH)
		problem = "the part before the @ is longer than 64 characters";

	for (const char *c = address; problem == NULL && *c; c++)
	{
		unsigned char byte = (unsigned char) *c;

		if (byte <= ' ' || byte == 0x7f)
			problem = "it contains a space or control character";
		else if (byte >= 0x80)
			problem = "it contains a character outside ASCII";
		else if (strchr("()<>[],;:\\\"", byte) != NULL)
			problem = "it contains a character that needs quoting, one of ()<>[],;:\\\"";
	}

	if (problem == NULL)
	{
		const char *domain = at_sign + 1;
		size_t		local_length = at_sign - address;

		if (address[0] == '.' || address[local_length - 1] == '.')
			problem = "the part before the @ starts or ends with a dot";
		else if (memmem(address, local_length, "..", 2) != NULL)
			problem = "the part before the @ has two dots in a row";
		else if (domain[0] == '\0')
			problem = "the domain after the @ is empty";
		else if (strchr(domain, '.') == NULL)
			problem = "the domain after the @ has no dot";
		else
		{
			const char *label = domain;

			/* Check each label of the domain in turn. */
			while (problem == NULL)
			{
				const char *end = strchr(label, '.');
				size_t		label_length = end ? (size_t) (end - label) : strlen(label);

				if (label_length == 0)
					problem = "the domain after the @ has an empty label";
				else if (label[0] == '-' || label[label_length - 1] == '-')
					problem = "a label of the domain starts or ends with a hyphen";
				else
				{
					for (size_t i = 0; i < label_length; i++)
					{
						if (!isalnum((unsigned char) label[i]) && label[i] != '-')
						{
							problem = "the domain has a character other than letters, digits, hyphens and dots";
							break;
						}
					}
				}

				if (end == NULL)
					break;
				label = end + 1;
			}
		}
	}

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid e-mail address \"%s\"", echoed_value(address)),
				 errdetail("The address is rejected because %s.", problem),
				 errhint("Write the address as name@example.com.")));

	PG_RETURN_BOOL(true);
}
