/*-------------------------------------------------------------------------
 *
 * mail_message.c
 *	  Formats an outbox row as an Internet message (RFC 5322) with MIME
 *	  parts (RFC 2045, 2046) and encoded words in headers (RFC 2047).
 *
 * Every text is UTF-8. A body that is ASCII with lines of at most 998
 * bytes is sent as 7bit, and any other body in base64. The message thus
 * needs no 8BITMIME support from the server and keeps to the SMTP line
 * limit. Lines end in CRLF. Dot-stuffing is left to libcurl, which
 * applies it while it uploads the message.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/mail_message.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "common/base64.h"
#include "common/pg_prng.h"
#include "lib/stringinfo.h"

/* RFC 5322 limits a line to 998 bytes, CRLF excluded. */
#define MAX_LINE_BYTES 998

/*
 * An encoded word is at most 75 characters (RFC 2047, section 2). Its
 * frame "=?UTF-8?B?" and "?=" takes 12, which leaves 63 characters of
 * base64, so at most 45 bytes of text per word.
 */
#define MAX_ENCODED_WORD_BYTES 45

/* Length of base64 lines in a body (RFC 2045, section 6.8: at most 76). */
#define BASE64_LINE_BYTES 57		/* 57 bytes encode to 76 characters */

/* Header texts longer than this are sent as folded encoded words. */
#define MAX_PLAIN_HEADER_TEXT 900

static const char *const day_names[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/*
 * trim_copy
 *		Returns a palloc'd copy of the bytes [start, end) without leading and
 *		trailing spaces and tabs.
 */
static char *
trim_copy(const char *start, const char *end)
{
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return pnstrdup(start, end - start);
}

/*
 * cs_mail_split_mailbox
 *		Splits a mailbox such as "Ops Team <ops@example.com>" or
 *		"ops@example.com" into a display name (NULL when there is none) and
 *		an address. Surrounding double quotes of the name are removed.
 *		Returns false when the address is empty, has no @, or contains a
 *		space, a control character or an angle bracket.
 */
bool
cs_mail_split_mailbox(const char *mailbox, char **name, char **address)
{
	const char *open = strchr(mailbox, '<');
	char	   *parsed_name = NULL;
	char	   *parsed_address;

	if (open != NULL)
	{
		const char *close = strchr(open, '>');

		if (close == NULL)
			return false;
		for (const char *rest = close + 1; *rest; rest++)
			if (*rest != ' ' && *rest != '\t')
				return false;
		parsed_name = trim_copy(mailbox, open);
		parsed_address = trim_copy(open + 1, close);

		/* "Name" or "Name with \"quotes\"" becomes the bare text. */
		if (strlen(parsed_name) >= 2 && parsed_name[0] == '"' &&
			parsed_name[strlen(parsed_name) - 1] == '"')
		{
			StringInfoData unquoted;

			initStringInfo(&unquoted);
			for (const char *c = parsed_name + 1; c < parsed_name + strlen(parsed_name) - 1; c++)
			{
				if (*c == '\\' && c[1] != '\0')
					c++;
				appendStringInfoChar(&unquoted, *c);
			}
			parsed_name = unquoted.data;
		}
		if (parsed_name[0] == '\0')
			parsed_name = NULL;
	}
	else
		parsed_address = trim_copy(mailbox, mailbox + strlen(mailbox));

	if (parsed_address[0] == '\0' || strchr(parsed_address, '@') == NULL)
		return false;
	for (const unsigned char *c = (const unsigned char *) parsed_address; *c; c++)
		if (*c <= ' ' || *c == 0x7f || *c == '<' || *c == '>')
			return false;

	*name = parsed_name;
	*address = parsed_address;
	return true;
}

/*
 * header_text
 *		Returns a copy of a header text with every control character (CR and
 *		LF included) replaced by a space, so that no value can end its
 *		header line and start another one.
 */
static char *
header_text(const char *text)
{
	char	   *copy = pstrdup(text);

	for (unsigned char *c = (unsigned char *) copy; *c; c++)
		if (*c < ' ' || *c == 0x7f)
			*c = ' ';
	return copy;
}

/*
 * is_plain_ascii
 *		True when every byte is printable ASCII.
 */
static bool
is_plain_ascii(const char *text)
{
	for (const unsigned char *c = (const unsigned char *) text; *c; c++)
		if (*c < ' ' || *c > '~')
			return false;
	return true;
}

/*
 * append_base64
 *		Appends the base64 encoding of len bytes.
 */
static void
append_base64(StringInfo buffer, const char *bytes, int len)
{
	int			encoded_len = pg_b64_enc_len(len);
	char	   *encoded = palloc(encoded_len + 1);
	int			written;

	written = pg_b64_encode(bytes, len, encoded, encoded_len);
	if (written < 0)
		elog(ERROR, "base64 encoding of %d bytes failed", len);
	appendBinaryStringInfo(buffer, encoded, written);
	pfree(encoded);
}

/*
 * append_encoded_words
 *		Appends UTF-8 text as RFC 2047 encoded words, folding the header
 *		between words. A word never splits a multibyte character, because a
 *		decoder may decode each word on its own.
 */
static void
append_encoded_words(StringInfo buffer, const char *text)
{
	const char *position = text;
	const char *end = text + strlen(text);

	do
	{
		int			chunk = Min(end - position, MAX_ENCODED_WORD_BYTES);

		/* Back off to the start of a character: continuation bytes are 10xxxxxx. */
		while (chunk > 0 && position + chunk < end &&
			   (((unsigned char) position[chunk]) & 0xC0) == 0x80)
			chunk--;

		if (position != text)
			appendStringInfoString(buffer, "\r\n ");
		appendStringInfoString(buffer, "=?UTF-8?B?");
		append_base64(buffer, position, chunk);
		appendStringInfoString(buffer, "?=");
		position += chunk;
	} while (position < end);
}

/*
 * append_header_text
 *		Appends unstructured header text (a Subject): as it is when it is
 *		short printable ASCII, as encoded words otherwise.
 */
static void
append_header_text(StringInfo buffer, const char *text)
{
	char	   *clean = header_text(text);

	if (is_plain_ascii(clean) && strlen(clean) <= MAX_PLAIN_HEADER_TEXT)
		appendStringInfoString(buffer, clean);
	else
		append_encoded_words(buffer, clean);
	pfree(clean);
}

/*
 * append_mailbox
 *		Appends a mailbox for From or To: "Display Name" <address>, or the
 *		bare address without a name. A name that is not short printable
 *		ASCII becomes encoded words, which RFC 2047 allows in a phrase but
 *		not inside a quoted string.
 */
static void
append_mailbox(StringInfo buffer, const char *name, const char *address)
{
	char	   *clean_name;

	if (name == NULL || name[0] == '\0')
	{
		appendStringInfoString(buffer, address);
		return;
	}

	clean_name = header_text(name);
	if (is_plain_ascii(clean_name) && strlen(clean_name) <= MAX_PLAIN_HEADER_TEXT)
	{
		appendStringInfoChar(buffer, '"');
		for (const char *c = clean_name; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(buffer, '\\');
			appendStringInfoChar(buffer, *c);
		}
		appendStringInfoChar(buffer, '"');
	}
	else
		append_encoded_words(buffer, clean_name);
	appendStringInfo(buffer, " <%s>", address);
	pfree(clean_name);
}

/*
 * crlf_lines
 *		Returns a copy of a body with every line ending (LF, CR or CRLF) made
 *		CRLF and a CRLF after the last line.
 */
static char *
crlf_lines(const char *body)
{
	StringInfoData result;

	initStringInfo(&result);
	for (const char *c = body; *c; c++)
	{
		if (*c == '\r')
		{
			if (c[1] == '\n')
				c++;
			appendStringInfoString(&result, "\r\n");
		}
		else if (*c == '\n')
			appendStringInfoString(&result, "\r\n");
		else
			appendStringInfoChar(&result, *c);
	}
	if (result.len < 2 || result.data[result.len - 1] != '\n')
		appendStringInfoString(&result, "\r\n");
	return result.data;
}

/*
 * fits_7bit
 *		True when a CRLF-terminated body is ASCII without NUL and has no line
 *		longer than MAX_LINE_BYTES.
 */
static bool
fits_7bit(const char *body)
{
	int			line_bytes = 0;

	for (const unsigned char *c = (const unsigned char *) body; *c; c++)
	{
		if (*c >= 0x80)
			return false;
		if (*c == '\r' || *c == '\n')
			line_bytes = 0;
		else if (++line_bytes > MAX_LINE_BYTES)
			return false;
	}
	return true;
}

/*
 * append_text_part
 *		Appends the Content-Type and Content-Transfer-Encoding headers, the
 *		blank line and the body of one text part.
 */
static void
append_text_part(StringInfo buffer, const char *subtype, const char *body)
{
	char	   *lines = crlf_lines(body);

	appendStringInfo(buffer, "Content-Type: text/%s; charset=UTF-8\r\n", subtype);
	if (fits_7bit(lines))
	{
		appendStringInfoString(buffer, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		appendStringInfoString(buffer, lines);
	}
	else
	{
		int			len = strlen(lines);

		appendStringInfoString(buffer, "Content-Transfer-Encoding: base64\r\n\r\n");
		for (int offset = 0; offset < len; offset += BASE64_LINE_BYTES)
		{
			append_base64(buffer, lines + offset, Min(BASE64_LINE_BYTES, len - offset));
			appendStringInfoString(buffer, "\r\n");
		}
	}
	pfree(lines);
}

/*
 * choose_boundary
 *		Returns a multipart boundary that occurs in neither body. It starts
 *		with "=_", which base64 never produces.
 */
static char *
choose_boundary(const CsMailMessage *message)
{
	for (;;)
	{
		char	   *boundary = psprintf("=_pg_success_" INT64_FORMAT "_%016llx",
										message->outbox_id,
										(unsigned long long) pg_prng_uint64(&pg_global_prng_state));

		if (strstr(message->body_text, boundary) == NULL &&
			strstr(message->body_html, boundary) == NULL)
			return boundary;
		pfree(boundary);
	}
}

/*
 * cs_mail_format
 *		Returns the message as it is sent after DATA: headers, a blank line
 *		and the body, with CRLF line ends. A message with an HTML body is
 *		multipart/alternative with the text part first, so that clients that
 *		show HTML pick the last part they understand (RFC 2046, 5.1.4).
 */
char *
cs_mail_format(const CsMailMessage *message, pg_time_t date)
{
	StringInfoData buffer;
	struct pg_tm *tm = pg_gmtime(&date);

	if (tm == NULL)
		elog(ERROR, "could not convert the time " INT64_FORMAT " to UTC",
			 (int64) date);

	initStringInfo(&buffer);
	appendStringInfo(&buffer, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
					 day_names[tm->tm_wday], tm->tm_mday,
					 month_names[tm->tm_mon], tm->tm_year + 1900,
					 tm->tm_hour, tm->tm_min, tm->tm_sec);

	appendStringInfoString(&buffer, "From: ");
	append_mailbox(&buffer, message->from_name, message->from_address);
	appendStringInfoString(&buffer, "\r\nTo: ");
	append_mailbox(&buffer, message->to_name, message->to_address);
	appendStringInfoString(&buffer, "\r\nSubject: ");
	append_header_text(&buffer, message->subject);
	appendStringInfo(&buffer, "\r\nMessage-ID: %s\r\n", message->message_id);
	appendStringInfoString(&buffer, "MIME-Version: 1.0\r\n");

	if (message->body_html == NULL)
	{
		append_text_part(&buffer, "plain", message->body_text);
		return buffer.data;
	}

	{
		char	   *boundary = choose_boundary(message);

		appendStringInfo(&buffer,
						 "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
						 boundary);
		appendStringInfo(&buffer, "--%s\r\n", boundary);
		append_text_part(&buffer, "plain", message->body_text);
		appendStringInfo(&buffer, "--%s\r\n", boundary);
		append_text_part(&buffer, "html", message->body_html);
		appendStringInfo(&buffer, "--%s--\r\n", boundary);
	}
	return buffer.data;
}
