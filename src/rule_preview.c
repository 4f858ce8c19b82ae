/*-------------------------------------------------------------------------
 *
 * rule_preview.c
 *	  cs.preview_rule and cs.apply_rule: a rule evaluated over every
 *	  account with one set-based query.
 *
 * The compiled condition is translated into an SQL condition over the
 * accounts, and the facts the rule reads into SQL expressions. Query facts
 * use the same SQL as the triggers (rule_facts.c). A preview returns what
 * the query finds and writes nothing. apply_rule runs the same query and
 * fires the rule for each account it finds, through the actions, cooldown
 * and deduplication of a trigger, so a preview shows what apply_rule then
 * does.
 *
 * There is no changed row in a preview, so the event's row is the account
 * itself, its latest usage row (usage_recorded), or its active contract
 * that ends first (contract_changed, renewal_due). The old row equals the
 * new one: "changed": false holds, and the other change operators do not.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_preview.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cs_preview_rule);
PG_FUNCTION_INFO_V1(cs_apply_rule);

/* jsonb_build_object takes at most 100 arguments. */
#define FACTS_PER_OBJECT 40

/* Rows that a preview or a backfill reads from its cursor at a time. */
#define PREVIEW_BATCH_ROWS 1000

static void append_condition(StringInfo sql, const RuleNode *node);

static char *
number_literal(double number)
{
	return psprintf("(%s)::float8", quote_literal_cstr(float8out_internal(number)));
}

static char *
value_literal(const RuleValue *value)
{
	switch (value->type)
	{
		case RULE_TYPE_NUMBER:
			return number_literal(value->number);
		case RULE_TYPE_TEXT:
			return psprintf("(%s COLLATE \"C\")", quote_literal_cstr(value->text));
		case RULE_TYPE_BOOL:
			return value->boolean ? "true" : "false";
		default:
			return "NULL";
	}
}

/*
 * fact_sql
 *		SQL expression of a fact, over the account a, the event row ev and
 *		the as_of time $1, typed as the rule reads it.
 */
static char *
fact_sql(const RuleFactRef *ref)
{
	const char *query = cs_rule_query_fact_sql(ref->fact);
	char	   *key = ref->key != NULL ? quote_literal_cstr(ref->key) : NULL;

	if (query != NULL)
		return psprintf(query, "a.account_id", "$1", key != NULL ? key : "NULL");

	switch (ref->fact)
	{
		case RULE_FACT_NAME:
			return "a.name";
		case RULE_FACT_SEGMENT:
			return "a.segment";
		case RULE_FACT_CATEGORY:
			return "a.category";
		case RULE_FACT_TIER:
			return "a.tier";
		case RULE_FACT_STATUS:
			return "a.status";
		case RULE_FACT_DAYS_IN_PHASE:
			return "floor(extract(epoch FROM $1 - a.phase_entered_at) / 86400)::float8";
		case RULE_FACT_DAYS_AS_CUSTOMER:
			return "floor(extract(epoch FROM $1 - a.created_at) / 86400)::float8";
		case RULE_FACT_ATTRIBUTE:
			switch (ref->type)
			{
				case RULE_TYPE_NUMBER:
					return psprintf("CASE WHEN pg_catalog.jsonb_typeof(a.attributes -> %1$s) = 'number' "
									"THEN (a.attributes ->> %1$s)::float8 END", key);
				case RULE_TYPE_TEXT:
					return psprintf("CASE WHEN pg_catalog.jsonb_typeof(a.attributes -> %1$s) = 'string' "
									"THEN a.attributes ->> %1$s END", key);
				case RULE_TYPE_BOOL:
					return psprintf("CASE WHEN pg_catalog.jsonb_typeof(a.attributes -> %1$s) = 'boolean' "
									"THEN (a.attributes ->> %1$s)::boolean END", key);
				default:
					return psprintf("CASE WHEN pg_catalog.jsonb_typeof(a.attributes -> %1$s) <> 'null' "
									"THEN (a.attributes -> %1$s)::text END", key);
			}
		case RULE_FACT_USAGE_ACTIVE_USERS:
			return "ev.active_users::float8";
		case RULE_FACT_USAGE_LICENSES_USED:
			return "ev.licenses_used::float8";
		case RULE_FACT_USAGE_EVENTS:
			return "ev.events::float8";
		case RULE_FACT_CONTRACT_ARR:
			return "ev.arr::float8";
		case RULE_FACT_CONTRACT_LICENSES:
			return "ev.licenses::float8";
		case RULE_FACT_CONTRACT_STATUS:
			return "ev.status";
		case RULE_FACT_CONTRACT_AUTO_RENEW:
			return "ev.auto_renew";
		case RULE_FACT_CONTRACT_DAYS_TO_END:
			return "(ev.end_date - ($1)::date)::float8";
		case RULE_FACT_RENEWAL_THRESHOLD:
			return "ev.threshold::float8";
		case RULE_FACT_PREVIOUS_PHASE:
			return "(SELECT fp.name FROM cs.phase_history AS h "
				"JOIN cs.phase AS fp ON fp.phase_id = h.from_phase_id "
				"WHERE h.account_id = a.account_id AND h.to_phase_id = a.phase_id "
				"ORDER BY h.phase_history_id DESC LIMIT 1)";
		case RULE_FACT_PHASE_SHARE:
			return "ev.phase_share";
		default:
			return "NULL";
	}
}

static void
append_comparison(StringInfo sql, const RuleNode *node)
{
	char	   *fact = fact_sql(&node->fact);
	const char *op = NULL;

	if (node->fact.type == RULE_TYPE_TEXT)
		fact = psprintf("(%s COLLATE \"C\")", fact);

	switch (node->op)
	{
		case RULE_OP_IS_NULL:
			appendStringInfo(sql, "((%s) IS %sNULL)", fact, node->expect_null ? "" : "NOT ");
			return;
		case RULE_OP_CHANGED:
			/* The old row equals the new one. */
			appendStringInfoString(sql, node->expect_null ? "false" : "true");
			return;
		case RULE_OP_INCREASED_BY:
		case RULE_OP_DECREASED_BY:
		case RULE_OP_CROSSED_BELOW:
		case RULE_OP_CROSSED_ABOVE:
			appendStringInfoString(sql, "false");
			return;
		case RULE_OP_EQ:
			op = "=";
			break;
		case RULE_OP_NE:
			op = "<>";
			break;
		case RULE_OP_LT:
			op = "<";
			break;
		case RULE_OP_LE:
			op = "<=";
			break;
		case RULE_OP_GT:
			op = ">";
			break;
		case RULE_OP_GE:
			op = ">=";
			break;
		case RULE_OP_IN:
			appendStringInfo(sql, "coalesce(%s IN (", fact);
			for (int i = 0; i < node->operand_count; i++)
				appendStringInfo(sql, "%s%s", i == 0 ? "" : ", ",
								 value_literal(&node->operands[i]));
			appendStringInfoString(sql, "), false)");
			return;
		case RULE_OP_BETWEEN:
			appendStringInfo(sql, "coalesce(%s BETWEEN %s AND %s, false)", fact,
							 value_literal(&node->operands[0]),
							 value_literal(&node->operands[1]));
			return;
		case RULE_OP_MATCHES:
			appendStringInfo(sql, "coalesce(%s ~ %s, false)", fact,
							 quote_literal_cstr(node->operands[0].text));
			return;
		default:
			appendStringInfoString(sql, "false");
			return;
	}
	appendStringInfo(sql, "coalesce(%s %s %s, false)", fact, op,
					 value_literal(&node->operands[0]));
}

static void
append_condition(StringInfo sql, const RuleNode *node)
{
	switch (node->kind)
	{
		case RULE_NODE_ALL:
		case RULE_NODE_ANY:
			if (node->child_count == 0)
			{
				appendStringInfoString(sql, node->kind == RULE_NODE_ALL ? "true" : "false");
				return;
			}
			appendStringInfoChar(sql, '(');
			for (int i = 0; i < node->child_count; i++)
			{
				if (i > 0)
					appendStringInfoString(sql, node->kind == RULE_NODE_ALL ? " AND " : " OR ");
				append_condition(sql, node->children[i]);
			}
			appendStringInfoChar(sql, ')');
			return;
		case RULE_NODE_NOT:
			appendStringInfoString(sql, "(NOT ");
			append_condition(sql, node->children[0]);
			appendStringInfoChar(sql, ')');
			return;
		case RULE_NODE_COMPARE:
			append_comparison(sql, node);
			return;
	}
}

/*
 * facts_sql
 *		The facts the rule reads as one jsonb expression, with the values
 *		the trigger would record.
 */
static char *
facts_sql(const RuleProgram *program)
{
	StringInfoData sql;

	initStringInfo(&sql);
	if (program->fact_count == 0)
		return "'{}'::jsonb";
	for (int i = 0; i < program->fact_count; i++)
	{
		const RuleFactRef *ref = &program->facts[i];
		char		label[160];

		if (i % FACTS_PER_OBJECT == 0)
			appendStringInfoString(&sql, i == 0 ? "pg_catalog.jsonb_build_object(" :
								   ") || pg_catalog.jsonb_build_object(");
		else
			appendStringInfoString(&sql, ", ");
		cs_rule_fact_label(ref, label, sizeof(label));
		if (ref->fact == RULE_FACT_ATTRIBUTE)
			appendStringInfo(&sql, "%s, a.attributes -> %s", quote_literal_cstr(label),
							 quote_literal_cstr(ref->key));
		else
			appendStringInfo(&sql, "%s, %s", quote_literal_cstr(label), fact_sql(ref));
	}
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

/*
 * rule_query
 *		The query over every account that returns account_id, name, the
 *		facts, the event's subject id and the cooldown end (with $2 the
 *		cooldown and $3 the rule id), in account order.
 */
static char *
rule_query(const RuleProgram *program)
{
	StringInfoData sql;
	const char *event_row = "";
	const char *subject = "NULL::int8";

	/*
	 * The event's row: an account without one (no usage row, no active
	 * contract, no renewal or phase due) cannot raise the event, so the
	 * join leaves it out. The timed events find what the next sweep with
	 * the default thresholds and share would raise, without consulting
	 * which occurrences a sweep has already recorded.
	 */
	switch (program->event)
	{
		case RULE_EVENT_USAGE_RECORDED:
			event_row = "JOIN LATERAL (SELECT u.* FROM cs.usage_daily AS u "
				"WHERE u.account_id = a.account_id AND u.day <= ($1)::date "
				"ORDER BY u.day DESC LIMIT 1) AS ev ON true ";
			break;
		case RULE_EVENT_CONTRACT_CHANGED:
			event_row = "JOIN LATERAL (SELECT c.* FROM cs.contract AS c "
				"WHERE c.account_id = a.account_id AND c.status = 'active' "
				"ORDER BY c.end_date, c.contract_id LIMIT 1) AS ev ON true ";
			subject = "ev.contract_id";
			break;
		case RULE_EVENT_RENEWAL_DUE:
			event_row = "JOIN LATERAL (SELECT c.*, t.days AS threshold FROM cs.contract AS c "
				"CROSS JOIN (VALUES (90), (60), (30)) AS t (days) "
				"WHERE c.account_id = a.account_id AND c.status = 'active' "
				"AND c.end_date >= ($1)::date AND c.end_date <= ($1)::date + t.days "
				"ORDER BY t.days, c.end_date, c.contract_id LIMIT 1) AS ev "
				"ON a.status = 'active' ";
			subject = "ev.contract_id";
			break;
		case RULE_EVENT_PHASE_OVERDUE:
			event_row = "JOIN LATERAL (SELECT round((extract(epoch FROM $1 - a.phase_entered_at)::float8 "
				"/ extract(epoch FROM p.max_duration)::float8)::numeric, 4)::float8 AS phase_share "
				"FROM cs.phase AS p WHERE p.phase_id = a.phase_id AND p.max_duration IS NOT NULL "
				"AND a.phase_entered_at < $1 - p.max_duration * 0.8) AS ev "
				"ON a.status = 'active' ";
			break;
		default:
			break;
	}

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT a.account_id, a.name, %s, %s, "
					 "(SELECT cd.last_fired_at + $2 FROM cs.rule_cooldown AS cd "
					 "WHERE cd.account_id = a.account_id AND cd.rule_id = $3 "
					 "AND cd.last_fired_at + $2 > $1) "
					 "FROM cs.account AS a %s WHERE ",
					 facts_sql(program), subject, event_row);
	append_condition(&sql, program->condition);
	appendStringInfoString(&sql, " ORDER BY a.account_id");
	return sql.data;
}

/*
 * planned_actions
 *		What the actions of the rule would do for one account, as JSON.
 */
static char *
planned_actions(const RuleProgram *program, Jsonb *facts, int64 rule_id,
				int32 version, int64 account_id)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (int i = 0; i < program->action_count; i++)
	{
		const RuleAction *action = &program->actions[i];
		const RuleActionDef *def = &cs_rule_actions[action->kind];

		appendStringInfoString(&json, i == 0 ? "{\"action\":" : ",{\"action\":");
		escape_json(&json, def->name);
		for (int p = 0; p < def->param_count; p++)
		{
			appendStringInfoChar(&json, ',');
			escape_json(&json, def->params[p].name);
			appendStringInfoChar(&json, ':');
			if (def->params[p].type == RULE_PARAM_JSON)
				appendStringInfoString(&json, action->params[p]);
			else if (def->params[p].type == RULE_PARAM_MESSAGE)
				escape_json(&json, cs_rule_render_message(action->params[p], facts));
			else
				escape_json(&json, action->params[p]);
		}
		if (action->kind == RULE_ACTION_QUEUE_EMAIL && rule_id != 0)
		{
			appendStringInfoString(&json, ",\"idempotency_key_prefix\":");
			escape_json(&json, psprintf("rule:" INT64_FORMAT ":v%d:account:" INT64_FORMAT ":",
										rule_id, version, account_id));
		}
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	return json.data;
}

static TimestampTz
checked_as_of(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz as_of;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL"),
				 errhint("Pass the time to evaluate the rule at, such as now().")));
	as_of = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time"),
				 errhint("Pass the time to evaluate the rule at, such as now().")));
	return as_of;
}

/* A text member of the rule object, or NULL. */
static char *
rule_member_text(Jsonb *rule, const char *key, bool as_json)
{
	JsonbValue *value = getKeyJsonValueFromContainer(&rule->root, key, strlen(key), NULL);

	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (!as_json && value->type == jbvString)
		return pnstrdup(value->val.string.val, value->val.string.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(value)->root, 0);
}

/* Members of a rule object: the columns of cs.rule. */
static const char *const rule_members[] = {
	"rule_id", "name", "event", "condition", "actions", "enabled", "priority",
	"cooldown", "version", "notes", "created_at", "updated_at", NULL
};

/*
 * check_rule_members
 *		Rejects a member that is not a column of cs.rule, such as a
 *		misspelt "condtion", which would otherwise be ignored.
 */
static void
check_rule_members(Jsonb *rule)
{
	JsonbIterator *iterator = JsonbIteratorInit(&rule->root);
	JsonbValue	value;
	JsonbIteratorToken token;
	int			level = 0;

	while ((token = JsonbIteratorNext(&iterator, &value, true)) != WJB_DONE)
	{
		bool		known = false;
		char	   *name;

		if (token == WJB_BEGIN_OBJECT)
			level++;
		else if (token == WJB_END_OBJECT)
			level--;
		if (token != WJB_KEY || level != 1)
			continue;

		name = pnstrdup(value.val.string.val, value.val.string.len);
		for (int i = 0; rule_members[i] != NULL && !known; i++)
			known = strcmp(name, rule_members[i]) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rule has an unknown member \"%s\"", name),
					 errhint("The members are the columns of cs.rule: event, condition, actions, cooldown, rule_id, name, version and the others.")));
	}
}

/*
 * rule_cooldown
 *		The "cooldown" member: an interval as text, from 0 to 100 years.
 */
static Interval *
rule_cooldown(Jsonb *rule)
{
	JsonbValue *value = getKeyJsonValueFromContainer(&rule->root, "cooldown",
													 strlen("cooldown"), NULL);
	char	   *text;
	Interval   *cooldown;
	Interval   *limit;

	if (value == NULL || value->type == jbvNull)
		return DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum("0"),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
	if (value->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule member \"cooldown\" must be an interval as a string"),
				 errhint("Write it as in cs.rule, such as \"7 days\".")));
	text = pnstrdup(value->val.string.val, value->val.string.len);
	cooldown = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(text),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
	limit = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum("100 years"),
												  ObjectIdGetDatum(InvalidOid),
												  Int32GetDatum(-1)));
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(cooldown),
										 IntervalPGetDatum(limit))) ||
		cooldown->time < 0 || cooldown->day < 0 || cooldown->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cooldown \"%s\"", text),
				 errhint("A cooldown is from 0 to 100 years, such as \"7 days\".")));
	return cooldown;
}

/*
 * cs_preview_rule
 *		SQL function cs.preview_rule(rule jsonb, as_of timestamptz). Reads
 *		the query's rows through a cursor, a batch at a time, so that a
 *		preview over a million accounts keeps one batch in memory.
 */
Datum
cs_preview_rule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *rule;
	TimestampTz as_of;
	char	   *event;
	char	   *condition;
	char	   *actions;
	char	   *rule_id_text;
	char	   *version_text;
	int64		rule_id = 0;
	int32		version = 1;
	Interval   *cooldown;
	RuleProgram *program;
	Oid			argtypes[3] = {TIMESTAMPTZOID, INTERVALOID, INT8OID};
	Datum		values[3];
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext row_context;
	Portal		cursor;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rule must not be NULL"),
				 errhint("Pass a rule object, such as (SELECT to_jsonb(r) FROM cs.rule AS r WHERE r.name = '...').")));
	rule = PG_GETARG_JSONB_P(0);
	as_of = checked_as_of(fcinfo, 1);
	if (!JB_ROOT_IS_OBJECT(rule))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule must be a JSON object"),
				 errhint("Pass {\"event\": ..., \"condition\": {...}, \"actions\": [...]}, or to_jsonb() of a row of cs.rule.")));
	check_rule_members(rule);

	event = rule_member_text(rule, "event", false);
	condition = rule_member_text(rule, "condition", true);
	actions = rule_member_text(rule, "actions", true);
	rule_id_text = rule_member_text(rule, "rule_id", false);
	version_text = rule_member_text(rule, "version", false);
	if (event == NULL || actions == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule has no \"%s\"", event == NULL ? "event" : "actions"),
				 errhint("Pass {\"event\": ..., \"condition\": {...}, \"actions\": [...]}, or to_jsonb() of a row of cs.rule.")));

	program = cs_rule_compile_or_error(event, condition != NULL ? condition : "{\"all\": []}",
									   actions, caller_context);
	cooldown = rule_cooldown(rule);
	if (rule_id_text != NULL)
		rule_id = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(rule_id_text)));
	if (version_text != NULL)
		version = DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(version_text)));

	InitMaterializedSRF(fcinfo, 0);
	row_context = AllocSetContextCreate(caller_context, "pg_success preview row",
										ALLOCSET_DEFAULT_SIZES);

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = IntervalPGetDatum(cooldown);
	values[2] = Int64GetDatum(rule_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cursor = SPI_cursor_open_with_args(NULL, rule_query(program), 3, argtypes,
									   values, NULL, true, 0);

	for (;;)
	{
		SPI_cursor_fetch(cursor, true, PREVIEW_BATCH_ROWS);
		if (SPI_processed == 0)
			break;

		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			TupleDesc	tupdesc = SPI_tuptable->tupdesc;
			Datum		out[5];
			bool		nulls[5] = {false, false, false, false, false};
			bool		isnull;
			Jsonb	   *facts;
			char	   *until;
			MemoryContext spi_context = MemoryContextSwitchTo(row_context);

			CHECK_FOR_INTERRUPTS();
			out[0] = SPI_getbinval(tuple, tupdesc, 1, &isnull);
			out[1] = CStringGetTextDatum(SPI_getvalue(tuple, tupdesc, 2));
			facts = DatumGetJsonbP(SPI_getbinval(tuple, tupdesc, 3, &isnull));
			out[2] = JsonbPGetDatum(facts);
			out[3] = DirectFunctionCall1(jsonb_in,
										 CStringGetDatum(planned_actions(program, facts, rule_id, version,
																		 DatumGetInt64(out[0]))));
			until = SPI_getvalue(tuple, tupdesc, 5);
			if (until != NULL)
				out[4] = CStringGetTextDatum(psprintf("cooldown until %s", until));
			else
				nulls[4] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
			MemoryContextSwitchTo(spi_context);
			MemoryContextReset(row_context);
		}
		SPI_freetuptable(SPI_tuptable);
	}

	SPI_cursor_close(cursor);
	SPI_finish();
	MemoryContextDelete(row_context);
	return (Datum) 0;
}

/*
 * cs_apply_rule
 *		SQL function cs.apply_rule(rule_id, as_of): fires a saved, enabled
 *		rule for every account that the preview query finds, as the owner
 *		of cs.rule. The query's rows come through a cursor a batch at a
 *		time, and each firing runs in an SPI connection and a memory
 *		context of its own, so memory stays flat over a million accounts.
 */
Datum
cs_apply_rule(PG_FUNCTION_ARGS)
{
	int64		rule_id;
	TimestampTz as_of;
	CsRule		rule;
	Oid			saved_user;
	int			saved_security_context;
	Oid			argtypes[3] = {TIMESTAMPTZOID, INTERVALOID, INT8OID};
	Datum		values[3];
	int64		fired = 0;
	char	   *fired_by = GetUserNameFromId(GetUserId(), false);
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext firing_context;
	bool		isnull;
	Portal		cursor;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rule_id must not be NULL"),
				 errhint("Pass the rule_id of a row of cs.rule.")));
	rule_id = PG_GETARG_INT64(0);
	as_of = checked_as_of(fcinfo, 1);

	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(cs_relation_oid("rule")),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = Int64GetDatum(rule_id);
	cs_spi_execute("SELECT r.name, r.event, r.condition::text, r.actions::text, "
				   "r.version, r.cooldown, r.enabled FROM cs.rule AS r "
				   "WHERE r.rule_id = $1 FOR SHARE",
				   1, (Oid[]) {INT8OID}, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("rule " INT64_FORMAT " does not exist", rule_id),
				 errhint("SELECT rule_id, name FROM cs.rule lists the rules.")));
	if (strcmp(cs_spi_get_text(0, 7), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rule \"%s\" is disabled", cs_spi_get_text(0, 1)),
				 errhint("Enable it with UPDATE cs.rule SET enabled = true, or see what it would do with cs.preview_rule.")));

	memset(&rule, 0, sizeof(rule));
	rule.rule_id = rule_id;
	rule.name = MemoryContextStrdup(caller_context, cs_spi_get_text(0, 1));
	rule.version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	rule.cooldown = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull));
	rule.has_cooldown = rule.cooldown.time > 0 || rule.cooldown.day > 0 || rule.cooldown.month > 0;
	rule.program = cs_rule_compile_or_error(cs_spi_get_text(0, 2), cs_spi_get_text(0, 3),
											cs_spi_get_text(0, 4), caller_context);
	SPI_freetuptable(SPI_tuptable);

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = IntervalPGetDatum(&rule.cooldown);
	values[2] = Int64GetDatum(rule_id);
	cursor = SPI_cursor_open_with_args(NULL, rule_query(rule.program), 3, argtypes,
									   values, NULL, false, 0);
	firing_context = AllocSetContextCreate(caller_context, "pg_success apply_rule firing",
										   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		SPITupleTable *batch;
		uint64		batch_rows;

		SPI_cursor_fetch(cursor, true, PREVIEW_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		batch = SPI_tuptable;
		batch_rows = SPI_processed;

		for (uint64 row = 0; row < batch_rows; row++)
		{
			HeapTuple	tuple = batch->vals[row];
			int64		account_id;
			int64		subject_id;
			Jsonb	   *facts;
			MemoryContext spi_context;

			CHECK_FOR_INTERRUPTS();
			spi_context = MemoryContextSwitchTo(firing_context);
			account_id = DatumGetInt64(SPI_getbinval(tuple, batch->tupdesc, 1, &isnull));
			subject_id = DatumGetInt64(SPI_getbinval(tuple, batch->tupdesc, 4, &isnull));
			if (isnull)
				subject_id = 0;
			facts = DatumGetJsonbPCopy(SPI_getbinval(tuple, batch->tupdesc, 3, &isnull));

			/* A connection of its own frees what the firing's queries allocate. */
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			if (cs_rule_fire(&rule, "apply_rule", account_id, subject_id,
							 facts, as_of, fired_by) != 0)
				fired++;
			SPI_finish();

			MemoryContextSwitchTo(spi_context);
			MemoryContextReset(firing_context);
		}
		SPI_freetuptable(batch);
	}

	SPI_cursor_close(cursor);
	MemoryContextDelete(firing_context);
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);
	PG_RETURN_INT64(fired);
}
