/*-------------------------------------------------------------------------
 *
 * template.c
 *	  E-mail templates: the merge field registry, the parser that splits a
 *	  template into literal and field parts, the renderer that fills the
 *	  fields from a jsonb context, and the validation trigger on
 *	  cs.email_template.
 *
 * Syntax: "{{" starts a merge tag and "}}" ends it. A tag holds a field
 * name from the registry, optionally followed by "|" and a default value
 * in double quotes, in which \" and \\ stand for a quote and a backslash:
 *
 *	  Hello {{contact.first_name | "there"}}, {{account.name}} renews soon.
 *
 * Spaces and tabs around the name, the "|" and the default are ignored.
 * "{{" always starts a tag; a single "{" or "}" and a "}}" outside a tag
 * are literal text.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/template.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(cs_render_template);
PG_FUNCTION_INFO_V1(cs_check_template);
PG_FUNCTION_INFO_V1(cs_email_merge_fields);
PG_FUNCTION_INFO_V1(cs_email_template_before_write);

/*
 * A merge field: its name in templates, and where its value sits in the
 * rendering context, as context->group->key. cs.email_context builds the
 * context from whole rows, so a field backed by a column of the account,
 * the contact, the owner or the renewal contract needs only its line here.
 */
typedef struct MergeField
{
	const char *name;
	const char *group;
	const char *key;
	const char *description;
} MergeField;

static const MergeField merge_fields[] = {
	{"account.name", "account", "name", "Account name"},
	{"account.segment", "account", "segment", "Account segment"},
	{"account.external_id", "account", "external_id", "Account identifier in the source system"},
	{"contact.first_name", "contact", "first_name", "First word of the contact's name"},
	{"contact.name", "contact", "name", "Contact's full name"},
	{"contact.email", "contact", "email", "Contact's e-mail address"},
	{"owner.name", "owner", "name", "Name of the team member who owns the account"},
	{"owner.email", "owner", "email", "E-mail address of the account owner"},
	{"renewal.date", "renewal", "end_date", "End date (YYYY-MM-DD) of the account's active contract that ends first"},
	{"renewal.arr", "renewal", "arr", "ARR of the account's active contract that ends first"},
};

#define MERGE_FIELD_COUNT lengthof(merge_fields)

#define UNCLOSED_DETAIL "The tag starts at that position and has no closing \"}}\"."

/* How values are written into the output. */
typedef enum RenderFormat
{
	RENDER_TEXT,				/* values as they are */
	RENDER_HTML,				/* values HTML-escaped */
	RENDER_SUBJECT				/* control characters in values become spaces */
} RenderFormat;

typedef enum TemplatePartKind
{
	TEMPLATE_PART_LITERAL,
	TEMPLATE_PART_FIELD
} TemplatePartKind;

/* One part of a template, as returned by template_next_part. */
typedef struct TemplatePart
{
	TemplatePartKind kind;
	const char *literal;		/* literal: start of the text in the source */
	int			literal_length; /* literal: length in bytes */
	const MergeField *field;	/* field: the registry entry */
	char	   *default_value;	/* field: unescaped default, or NULL */
} TemplatePart;

/* Position of the parser in a template. */
typedef struct TemplateScanner
{
	const char *source;
	int			length;			/* in bytes */
	int			offset;			/* byte offset of the next part */
	const char *part_name;		/* for errors: subject, body_text, ... */
} TemplateScanner;

static void template_scan_init(TemplateScanner *scanner, const char *source,
							   int length, const char *part_name);
static bool template_next_part(TemplateScanner *scanner, TemplatePart *part);
static int	scan_tag(TemplateScanner *scanner, int tag_start,
					 TemplatePart *part);
static const MergeField *find_merge_field(const char *name, int length);
static void report_template_error(TemplateScanner *scanner, int offset,
								  int sqlstate, const char *problem,
								  const char *detail) pg_attribute_noreturn();
static char *allowed_fields_list(void);
static void validate_template(const char *source, int length,
							  const char *part_name, bool single_line);
static char *field_value(Jsonb *context, const MergeField *field);
static void append_value(StringInfo output, const char *value,
						 RenderFormat format);
static RenderFormat parse_render_format(const char *name);

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_field_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.';
}

static void
template_scan_init(TemplateScanner *scanner, const char *source, int length,
				   const char *part_name)
{
	scanner->source = source;
	scanner->length = length;
	scanner->offset = 0;
	scanner->part_name = part_name;
}

/*
 * template_next_part
 *		Parses the next part of a template into *part and returns true, or
 *		returns false at the end. Raises an error, with the position, on a
 *		broken tag or an unknown field.
 */
static bool
template_next_part(TemplateScanner *scanner, TemplatePart *part)
{
	const char *source = scanner->source;
	int			start = scanner->offset;
	int			offset = start;

	CHECK_FOR_INTERRUPTS();

	if (start >= scanner->length)
		return false;

	if (scanner->length - start >= 2 && source[start] == '{' &&
		source[start + 1] == '{')
	{
		scanner->offset = scan_tag(scanner, start, part);
		return true;
	}

	/* A literal runs up to the next "{{" or the end. */
	while (offset < scanner->length &&
		   !(source[offset] == '{' && offset + 1 < scanner->length &&
			 source[offset + 1] == '{'))
		offset++;

	part->kind = TEMPLATE_PART_LITERAL;
	part->literal = source + start;
	part->literal_length = offset - start;
	part->field = NULL;
	part->default_value = NULL;
	scanner->offset = offset;
	return true;
}

/*
 * scan_tag
 *		Parses the tag that starts with "{{" at tag_start into *part and
 *		returns the offset after its closing "}}".
 */
static int
scan_tag(TemplateScanner *scanner, int tag_start, TemplatePart *part)
{
	const char *source = scanner->source;
	int			length = scanner->length;
	int			offset = tag_start + 2;
	int			name_start;
	int			name_length;
	char	   *name;
	StringInfoData default_value;

	while (offset < length && is_blank(source[offset]))
		offset++;

	name_start = offset;
	while (offset < length && is_field_name_char(source[offset]))
		offset++;
	name_length = offset - name_start;
	name = pnstrdup(source + name_start, name_length);

	if (offset >= length)
		report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
							  name_length > 0 ?
							  psprintf("unclosed merge tag of field \"%s\"", name) :
							  "unclosed merge tag",
							  UNCLOSED_DETAIL);

	if (name_length == 0)
	{
		if (source[offset] == '|' ||
			(source[offset] == '}' && offset + 1 < length && source[offset + 1] == '}'))
			report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
								  "empty merge field", NULL);
		report_template_error(scanner, offset, ERRCODE_SYNTAX_ERROR,
							  "invalid character in merge tag", NULL);
	}

	while (offset < length && is_blank(source[offset]))
		offset++;

	/*
	 * Check the character after the name before the registry, so that
	 * "{{account.name {{" reads as a broken tag, not as an unknown field.
	 */
	if (offset >= length)
		report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
							  psprintf("unclosed merge tag of field \"%s\"", name),
							  UNCLOSED_DETAIL);
	if (source[offset] != '|' &&
		!(source[offset] == '}' && offset + 1 < length && source[offset + 1] == '}'))
	{
		if (source[offset] == '}')
			report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
								  psprintf("unclosed merge tag of field \"%s\"", name),
								  UNCLOSED_DETAIL);
		report_template_error(scanner, offset, ERRCODE_SYNTAX_ERROR,
							  psprintf("invalid character after merge field \"%s\"", name),
							  NULL);
	}

	part->kind = TEMPLATE_PART_FIELD;
	part->literal = NULL;
	part->literal_length = 0;
	part->default_value = NULL;
	part->field = find_merge_field(name, name_length);
	if (part->field == NULL)
		report_template_error(scanner, name_start, ERRCODE_UNDEFINED_OBJECT,
							  psprintf("unknown merge field \"%s\"", name), NULL);

	if (source[offset] == '}')
		return offset + 2;

	/* A default value: | "text" */
	offset++;
	while (offset < length && is_blank(source[offset]))
		offset++;
	if (offset >= length)
		report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
							  psprintf("unclosed merge tag of field \"%s\"", name),
							  UNCLOSED_DETAIL);
	if (source[offset] != '"')
		report_template_error(scanner, offset, ERRCODE_SYNTAX_ERROR,
							  psprintf("default value of merge field \"%s\" is not a double-quoted string", name),
							  NULL);

	initStringInfo(&default_value);
	offset++;
	for (;;)
	{
		if (offset >= length)
			report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
								  psprintf("unterminated default value of merge field \"%s\"", name),
								  UNCLOSED_DETAIL);
		if (source[offset] == '"')
			break;
		if (source[offset] == '\\' && offset + 1 < length &&
			(source[offset + 1] == '"' || source[offset + 1] == '\\'))
			offset++;
		appendStringInfoChar(&default_value, source[offset]);
		offset++;
	}
	offset++;

	while (offset < length && is_blank(source[offset]))
		offset++;
	if (offset >= length)
		report_template_error(scanner, tag_start, ERRCODE_SYNTAX_ERROR,
							  psprintf("unclosed merge tag of field \"%s\"", name),
							  UNCLOSED_DETAIL);
	if (!(source[offset] == '}' && offset + 1 < length && source[offset + 1] == '}'))
		report_template_error(scanner, offset, ERRCODE_SYNTAX_ERROR,
							  psprintf("unexpected text after the default value of merge field \"%s\"", name),
							  NULL);

	part->default_value = default_value.data;
	pfree(name);
	return offset + 2;
}

static const MergeField *
find_merge_field(const char *name, int length)
{
	for (int i = 0; i < MERGE_FIELD_COUNT; i++)
	{
		if (strlen(merge_fields[i].name) == (size_t) length &&
			strncmp(merge_fields[i].name, name, length) == 0)
			return &merge_fields[i];
	}
	return NULL;
}

/*
 * report_template_error
 *		Raises an error about the template at a byte offset, stating the line
 *		and column (both from 1, columns in characters). The detail defaults
 *		to naming the character found there.
 */
static void
report_template_error(TemplateScanner *scanner, int offset, int sqlstate,
					  const char *problem, const char *detail)
{
	int			line = 1;
	int			column = 1;
	int			position = 0;

	while (position < offset)
	{
		if (scanner->source[position] == '\n')
		{
			line++;
			column = 1;
		}
		else
			column++;
		position += pg_mblen(scanner->source + position);
	}

	if (detail == NULL && offset < scanner->length)
		detail = psprintf("Found \"%.*s\" at that position.",
						  pg_mblen(scanner->source + offset),
						  scanner->source + offset);

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s in %s at line %d, column %d",
					problem, scanner->part_name, line, column),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("Write a merge tag as {{field}} or {{field | \"default\"}}. Allowed fields: %s.",
					 allowed_fields_list())));
}

static char *
allowed_fields_list(void)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < MERGE_FIELD_COUNT; i++)
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", merge_fields[i].name);
	return list.data;
}

/*
 * validate_template
 *		Parses a whole template and raises an error at the first broken tag
 *		or unknown field. A single-line template (a subject) must not
 *		contain a line break either.
 */
static void
validate_template(const char *source, int length, const char *part_name,
				  bool single_line)
{
	TemplateScanner scanner;
	TemplatePart part;

	template_scan_init(&scanner, source, length, part_name);

	if (single_line)
	{
		for (int offset = 0; offset < length; offset++)
		{
			if (source[offset] == '\n' || source[offset] == '\r')
				report_template_error(&scanner, offset, ERRCODE_INVALID_PARAMETER_VALUE,
									  "line break", "A subject must be a single line.");
		}
	}

	while (template_next_part(&scanner, &part))
	{
		if (part.default_value != NULL)
			pfree(part.default_value);
	}
}

/*
 * field_value
 *		Returns the value of a field in the context as text, or NULL when the
 *		context has no such value or it is JSON null. Strings are returned
 *		as they are, other JSON values in their JSON text form.
 */
static char *
field_value(Jsonb *context, const MergeField *field)
{
	JsonbValue	key;
	JsonbValue *group;
	JsonbValue *value;

	key.type = jbvString;
	key.val.string.val = (char *) field->group;
	key.val.string.len = strlen(field->group);
	group = findJsonbValueFromContainer(&context->root, JB_FOBJECT, &key);
	if (group == NULL || group->type != jbvBinary ||
		!JsonContainerIsObject(group->val.binary.data))
		return NULL;

	key.val.string.val = (char *) field->key;
	key.val.string.len = strlen(field->key);
	value = findJsonbValueFromContainer(group->val.binary.data, JB_FOBJECT, &key);
	if (value == NULL)
		return NULL;

	switch (value->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(value->val.string.val, value->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(value->val.numeric)));
		case jbvBool:
			return pstrdup(value->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, value->val.binary.data,
								  value->val.binary.len);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) value->type);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * append_value
 *		Appends a field value in the output format: HTML bodies escape
 *		& < > " and ', subjects replace control characters (line breaks
 *		among them) with spaces so that a value cannot start a new header.
 */
static void
append_value(StringInfo output, const char *value, RenderFormat format)
{
	if (format == RENDER_TEXT)
	{
		appendStringInfoString(output, value);
		return;
	}

	for (const char *c = value; *c; c++)
	{
		if (format == RENDER_HTML)
		{
			switch (*c)
			{
				case '&':
					appendStringInfoString(output, "&amp;");
					break;
				case '<':
					appendStringInfoString(output, "&lt;");
					break;
				case '>':
					appendStringInfoString(output, "&gt;");
					break;
				case '"':
					appendStringInfoString(output, "&quot;");
					break;
				case '\'':
					appendStringInfoString(output, "&#39;");
					break;
				default:
					appendStringInfoChar(output, *c);
					break;
			}
		}
		else if ((unsigned char) *c < 0x20 || *c == 0x7f)
			appendStringInfoChar(output, ' ');
		else
			appendStringInfoChar(output, *c);
	}
}

static RenderFormat
parse_render_format(const char *name)
{
	if (strcmp(name, "text") == 0)
		return RENDER_TEXT;
	if (strcmp(name, "html") == 0)
		return RENDER_HTML;
	if (strcmp(name, "subject") == 0)
		return RENDER_SUBJECT;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid render format \"%s\"", name),
			 errhint("Use \"text\", \"html\" or \"subject\".")));
	return RENDER_TEXT;			/* keep compiler quiet */
}

/*
 * cs_render_template
 *		SQL function cs.render_template(template, context, format): replaces
 *		each merge tag with its value from the context. A value that is
 *		missing, JSON null or the empty string is replaced by the tag's
 *		default, or by nothing when the tag has none. Defaults are escaped
 *		like values.
 */
Datum
cs_render_template(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	Jsonb	   *context = PG_GETARG_JSONB_P(1);
	RenderFormat format = parse_render_format(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	TemplateScanner scanner;
	TemplatePart part;
	StringInfoData output;

	if (!JB_ROOT_IS_OBJECT(context) || JB_ROOT_IS_SCALAR(context))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("merge context must be a JSON object"),
				 errhint("Pass an object such as {\"account\": {\"name\": \"Acme\"}}, as cs.email_context returns.")));

	template_scan_init(&scanner, VARDATA_ANY(template),
					   VARSIZE_ANY_EXHDR(template), "template");
	initStringInfo(&output);

	while (template_next_part(&scanner, &part))
	{
		char	   *value;

		if (part.kind == TEMPLATE_PART_LITERAL)
		{
			appendBinaryStringInfo(&output, part.literal, part.literal_length);
			continue;
		}

		value = field_value(context, part.field);
		if (value == NULL || value[0] == '\0')
			value = part.default_value;
		if (value != NULL)
			append_value(&output, value, format);
	}

	PG_RETURN_TEXT_P(cstring_to_text_with_len(output.data, output.len));
}

/*
 * cs_check_template
 *		SQL function cs.check_template(template, part_name): returns true
 *		when the template parses, and raises the parser's error otherwise.
 *		part_name is the name the error uses for the template.
 */
Datum
cs_check_template(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	char	   *part_name = text_to_cstring(PG_GETARG_TEXT_PP(1));

	validate_template(VARDATA_ANY(template), VARSIZE_ANY_EXHDR(template),
					  part_name, strcmp(part_name, "subject") == 0);
	PG_RETURN_BOOL(true);
}

/*
 * cs_email_merge_fields
 *		SQL function cs.email_merge_fields(): the registry, one row per field.
 */
Datum
cs_email_merge_fields(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < MERGE_FIELD_COUNT; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(merge_fields[i].name);
		values[1] = CStringGetTextDatum(merge_fields[i].description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * cs_email_template_before_write
 *		BEFORE INSERT OR UPDATE row trigger on cs.email_template: rejects a
 *		subject or body with a broken tag or an unknown field, and a subject
 *		with a line break. On UPDATE it sets updated_at to the transaction
 *		time.
 */
Datum
cs_email_template_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	static const char *const columns[] = {"subject", "body_text", "body_html"};
	TupleDesc	tupdesc;
	HeapTuple	tuple;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cs.email_template_before_write was called outside the trigger it is written for"),
				 errhint("Use the triggers that CREATE EXTENSION pg_success defines.")));

	tupdesc = trigdata->tg_relation->rd_att;
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;

	for (int i = 0; i < lengthof(columns); i++)
	{
		int			column = SPI_fnumber(tupdesc, columns[i]);
		bool		isnull;
		Datum		value;
		text	   *template;

		if (column <= 0)
			elog(ERROR, "cs.email_template has no column \"%s\"", columns[i]);
		value = SPI_getbinval(tuple, tupdesc, column, &isnull);
		if (isnull)
			continue;			/* NOT NULL constraints report the column */
		template = DatumGetTextPP(value);
		validate_template(VARDATA_ANY(template), VARSIZE_ANY_EXHDR(template),
						  columns[i], i == 0);
	}

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		int			column = SPI_fnumber(tupdesc, "updated_at");
		Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		bool		isnull = false;

		if (column <= 0)
			elog(ERROR, "cs.email_template has no column \"updated_at\"");
		tuple = heap_modify_tuple_by_cols(tuple, tupdesc, 1, &column, &now,
										  &isnull);
	}

	return PointerGetDatum(tuple);
}
