/*-------------------------------------------------------------------------
 *
 * rule_facts.c
 *	  The values of facts for one event occurrence, computed on demand.
 *
 * Facts of the changed row are read from the row. Facts of the account
 * are read from the row for account events, and from one fetch of the
 * account otherwise. Facts that need other tables run one prepared query
 * each, at most once per occurrence, and the value is shared by all rules
 * of the event. A rule that fails on the row's own columns runs no query.
 *
 * The SQL of each query fact is also what cs.preview_rule puts into its
 * set-based query, so a preview and a trigger read the same values.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_facts.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

typedef struct CsKeyedValue
{
	RuleFact	fact;
	char	   *key;
	RuleValue	value;
} CsKeyedValue;

static SPIPlanPtr fact_plans[RULE_FACT_COUNT];
static SPIPlanPtr account_plan;

static const RuleValue null_value = {RULE_TYPE_NULL, 0, NULL, false};

/*
 * cs_rule_query_fact_sql
 *		SQL expression of a fact that needs a query, with %1$s standing for
 *		the account id, %2$s for the as_of time and %3$s for the key of a
 *		keyed fact. NULL for a fact read from a row.
 */
const char *
cs_rule_query_fact_sql(RuleFact fact)
{
	switch (fact)
	{
		case RULE_FACT_PHASE:
			return "(SELECT p.name FROM cs.account AS pa "
				"JOIN cs.phase AS p ON p.phase_id = pa.phase_id "
				"WHERE pa.account_id = %1$s)";
		case RULE_FACT_OWNER_ROLE:
			return "(SELECT m.role_name FROM cs.account AS oa "
				"JOIN cs.team_member AS m ON m.member_id = oa.owner_id "
				"WHERE oa.account_id = %1$s)";
		case RULE_FACT_ARR:
			return "(SELECT coalesce(sum(c.arr), 0)::float8 FROM cs.contract AS c "
				"WHERE c.account_id = %1$s AND c.status = 'active')";
		case RULE_FACT_DAYS_TO_RENEWAL:
			return "(SELECT (min(c.end_date) - (%2$s)::date)::float8 FROM cs.contract AS c "
				"WHERE c.account_id = %1$s AND c.status = 'active')";
		case RULE_FACT_UTILIZATION:
			return "(SELECT u.licenses_used::float8 / nullif((SELECT sum(c.licenses) "
				"FROM cs.contract AS c WHERE c.account_id = %1$s AND c.status = 'active'), 0)::float8 "
				"FROM cs.usage_daily AS u WHERE u.account_id = %1$s "
				"AND u.day <= (%2$s)::date ORDER BY u.day DESC LIMIT 1)";
		case RULE_FACT_ADOPTION_CHANGE:
			return "(SELECT CASE WHEN w.earlier > 0 THEN round(((w.recent / 7 - w.earlier / 28) "
				"/ (w.earlier / 28) * 100)::numeric, 2)::float8 END "
				"FROM (SELECT coalesce(sum(u.active_users) FILTER "
				"(WHERE u.day > (%2$s)::date - 7), 0)::float8 AS recent, "
				"coalesce(sum(u.active_users) FILTER (WHERE u.day <= (%2$s)::date - 7), 0)::float8 AS earlier "
				"FROM cs.usage_daily AS u WHERE u.account_id = %1$s "
				"AND u.day > (%2$s)::date - 35 AND u.day <= (%2$s)::date) AS w)";
		case RULE_FACT_OPEN_ALERTS:
			return "(SELECT count(*)::float8 FROM cs.alert AS al "
				"WHERE al.account_id = %1$s AND al.status = 'open')";
		case RULE_FACT_OPEN_ALERTS_OF_KIND:

			/*
			 * PostgreSQL's snprintf rejects a format that skips a positional
			 * argument, so %2$.0s takes the as_of time and prints nothing.
			 */
			return "(SELECT count(*)::float8 FROM cs.alert AS al "
				"WHERE al.account_id = %1$s AND al.status = 'open' AND al.kind = %3$s%2$.0s)";
		default:
			return NULL;
	}
}

static AttrNumber
column_number(TupleDesc tupdesc, const char *name)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attribute = TupleDescAttr(tupdesc, i);

		if (!attribute->attisdropped && strcmp(NameStr(attribute->attname), name) == 0)
			return attribute->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * cs_rule_columns_for
 *		Looks up the columns that facts read in a row of cs.account,
 *		cs.contract or cs.usage_daily; absent ones stay 0.
 */
void
cs_rule_columns_for(TupleDesc tupdesc, CsRowColumns *columns)
{
	columns->account_id = column_number(tupdesc, "account_id");
	columns->contract_id = column_number(tupdesc, "contract_id");
	columns->name = column_number(tupdesc, "name");
	columns->segment = column_number(tupdesc, "segment");
	columns->category = column_number(tupdesc, "category");
	columns->tier = column_number(tupdesc, "tier");
	columns->status = column_number(tupdesc, "status");
	columns->created_at = column_number(tupdesc, "created_at");
	columns->owner_id = column_number(tupdesc, "owner_id");
	columns->phase_id = column_number(tupdesc, "phase_id");
	columns->phase_entered_at = column_number(tupdesc, "phase_entered_at");
	columns->attributes = column_number(tupdesc, "attributes");
	columns->active_users = column_number(tupdesc, "active_users");
	columns->licenses_used = column_number(tupdesc, "licenses_used");
	columns->events = column_number(tupdesc, "events");
	columns->arr = column_number(tupdesc, "arr");
	columns->licenses = column_number(tupdesc, "licenses");
	columns->auto_renew = column_number(tupdesc, "auto_renew");
	columns->end_date = column_number(tupdesc, "end_date");
}

/*
 * cs_rule_event_reset
 *		Forgets the facts of the previous occurrence.
 */
void
cs_rule_event_reset(CsRuleEvent *event)
{
	cs_rule_event_release(event);
	memset(event->known, 0, sizeof(event->known));
	event->keyed_count = 0;
	event->keyed = NULL;
}

void
cs_rule_event_release(CsRuleEvent *event)
{
	if (event->account != NULL)
		ExecDropSingleTupleTableSlot(event->account);
	event->account = NULL;
	event->account_fetched = false;
}

/*
 * cs_rule_event_connect
 *		Connects SPI for the occurrence on first use. Everything SPI
 *		allocates for it is freed by cs_rule_event_disconnect, once per row,
 *		so a statement that fires rules for many rows stays flat in memory.
 */
void
cs_rule_event_connect(CsRuleEvent *event)
{
	MemoryContext caller_context = CurrentMemoryContext;

	if (event->spi_connected)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(caller_context);
	event->spi_connected = true;
}

void
cs_rule_event_disconnect(CsRuleEvent *event)
{
	if (!event->spi_connected)
		return;
	cs_rule_event_release(event);
	SPI_finish();
	event->spi_connected = false;
}

/*
 * fetch_account
 *		The account row of the occurrence: the event's row for an account
 *		event, otherwise one fetch. NULL if the account is gone.
 */
static TupleTableSlot *
fetch_account(CsRuleEvent *event, const CsRowColumns **columns, bool previous)
{
	static CsRowColumns account_columns;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (cs_rule_events[event->event].subject == RULE_SUBJECT_ACCOUNT &&
		event->row != NULL)
	{
		*columns = event->columns;
		return previous && event->old_row != NULL ? event->old_row : event->row;
	}

	if (!event->account_fetched)
	{
		cs_rule_event_connect(event);
		event->account_fetched = true;
		values[0] = Int64GetDatum(event->account_id);
		cs_spi_execute_plan(&account_plan,
							"SELECT * FROM cs.account AS a WHERE a.account_id = $1",
							1, argtypes, values, NULL, false, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			TupleDesc	tupdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);

			event->account = MakeSingleTupleTableSlot(tupdesc, &TTSOpsHeapTuple);
			ExecStoreHeapTuple(SPI_copytuple(SPI_tuptable->vals[0]),
							   event->account, true);
			cs_rule_columns_for(tupdesc, &account_columns);
		}
	}
	*columns = &account_columns;
	return event->account;
}

static DateADT
as_of_date(TimestampTz as_of)
{
	return DatumGetDateADT(DirectFunctionCall1(timestamptz_date,
											   TimestampTzGetDatum(as_of)));
}

static RuleValue
number_value(double number)
{
	RuleValue	value = {RULE_TYPE_NUMBER, number, NULL, false};

	return value;
}

static RuleValue
text_value(const char *text)
{
	RuleValue	value = {RULE_TYPE_TEXT, 0, text, false};

	return value;
}

/*
 * column_value
 *		A column of a row as a fact of the given type.
 */
static RuleValue
column_value(TupleTableSlot *slot, AttrNumber attnum, RuleValueType type)
{
	bool		isnull;
	Datum		datum;
	Oid			typid;

	if (slot == NULL || attnum == InvalidAttrNumber)
		return null_value;
	datum = slot_getattr(slot, attnum, &isnull);
	if (isnull)
		return null_value;

	typid = TupleDescAttr(slot->tts_tupleDescriptor, attnum - 1)->atttypid;
	if (type == RULE_TYPE_TEXT)
		return text_value(TextDatumGetCString(datum));
	if (type == RULE_TYPE_BOOL)
	{
		RuleValue	value = {RULE_TYPE_BOOL, 0, NULL, DatumGetBool(datum)};

		return value;
	}
	switch (typid)
	{
		case INT4OID:
			return number_value(DatumGetInt32(datum));
		case INT8OID:
			return number_value((double) DatumGetInt64(datum));
		case NUMERICOID:
			return number_value(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																   datum)));
		default:
			return null_value;
	}
}

/* Whole days from a time to as_of, rounded down. */
static RuleValue
days_since(TupleTableSlot *slot, AttrNumber attnum, TimestampTz as_of)
{
	bool		isnull;
	TimestampTz since;
	int64		elapsed;
	int64		days;

	if (slot == NULL || attnum == InvalidAttrNumber)
		return null_value;
	since = DatumGetTimestampTz(slot_getattr(slot, attnum, &isnull));
	if (isnull)
		return null_value;
	elapsed = as_of - since;
	days = elapsed / USECS_PER_DAY;
	if (elapsed % USECS_PER_DAY < 0)
		days--;
	return number_value((double) days);
}

/*
 * attribute_value
 *		A key of cs.account.attributes, read as the type the rule compares
 *		it with: a JSON number as a number, a string as text, true and false
 *		as a boolean, and anything else as no value. Read untyped (is_null,
 *		changed), any JSON value but null counts, as its JSON text.
 */
static RuleValue
attribute_value(TupleTableSlot *slot, const CsRowColumns *columns,
				const char *key, RuleValueType type)
{
	bool		isnull;
	Jsonb	   *attributes;
	JsonbValue *found;

	if (slot == NULL || columns->attributes == InvalidAttrNumber)
		return null_value;
	attributes = DatumGetJsonbP(slot_getattr(slot, columns->attributes, &isnull));
	if (isnull)
		return null_value;

	found = getKeyJsonValueFromContainer(&attributes->root, key, strlen(key), NULL);
	if (found == NULL || found->type == jbvNull)
		return null_value;

	switch (type)
	{
		case RULE_TYPE_NUMBER:
			if (found->type != jbvNumeric)
				return null_value;
			return number_value(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																   NumericGetDatum(found->val.numeric))));
		case RULE_TYPE_TEXT:
			if (found->type != jbvString)
				return null_value;
			return text_value(pnstrdup(found->val.string.val, found->val.string.len));
		case RULE_TYPE_BOOL:
			if (found->type != jbvBool)
				return null_value;
			{
				RuleValue	value = {RULE_TYPE_BOOL, 0, NULL, found->val.boolean};

				return value;
			}
		default:
			return text_value(JsonbToCString(NULL, &JsonbValueToJsonb(found)->root, 0));
	}
}

/*
 * query_value
 *		Runs the query of a query fact for the occurrence's account.
 */
static RuleValue
query_value(CsRuleEvent *event, RuleFact fact, const char *key)
{
	Oid			argtypes[3] = {INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	char	   *sql;
	bool		isnull;
	Datum		datum;
	Oid			typid;

	cs_rule_event_connect(event);
	sql = psprintf(cs_rule_query_fact_sql(fact), "$1", "$2::timestamptz", "$3::text");
	sql = psprintf("SELECT %s", sql);
	values[0] = Int64GetDatum(event->account_id);
	values[1] = TimestampTzGetDatum(event->as_of);
	values[2] = key != NULL ? CStringGetTextDatum(key) : (Datum) 0;

	cs_spi_execute_plan(&fact_plans[fact], sql, key != NULL ? 3 : 2, argtypes,
						values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return null_value;

	datum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return null_value;
	typid = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	if (typid == FLOAT8OID)
		return number_value(DatumGetFloat8(datum));
	return text_value(TextDatumGetCString(datum));
}

/* The name of a phase, by id, through the phase query. */
static RuleValue
phase_name(int64 phase_id)
{
	static SPIPlanPtr plan;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(phase_id)};

	cs_spi_execute_plan(&plan, "SELECT p.name FROM cs.phase AS p WHERE p.phase_id = $1",
						1, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return null_value;
	return text_value(cs_spi_get_text(0, 1));
}

/*
 * compute
 *		The value of an unkeyed fact, or of a keyed one when key is set.
 */
static RuleValue
compute(CsRuleEvent *event, const RuleFactRef *ref, bool previous)
{
	const CsRowColumns *columns = event->columns;
	TupleTableSlot *row = previous && event->old_row != NULL ? event->old_row : event->row;
	TupleTableSlot *account;
	const CsRowColumns *account_columns;

	switch (ref->fact)
	{
		case RULE_FACT_NAME:
		case RULE_FACT_SEGMENT:
		case RULE_FACT_CATEGORY:
		case RULE_FACT_TIER:
		case RULE_FACT_STATUS:
			{
				AttrNumber	attnum;

				account = fetch_account(event, &account_columns, previous);
				attnum = ref->fact == RULE_FACT_NAME ? account_columns->name :
					ref->fact == RULE_FACT_SEGMENT ? account_columns->segment :
					ref->fact == RULE_FACT_CATEGORY ? account_columns->category :
					ref->fact == RULE_FACT_TIER ? account_columns->tier :
					account_columns->status;
				return column_value(account, attnum, RULE_TYPE_TEXT);
			}
		case RULE_FACT_DAYS_IN_PHASE:
			account = fetch_account(event, &account_columns, previous);
			return days_since(account, account_columns->phase_entered_at, event->as_of);
		case RULE_FACT_DAYS_AS_CUSTOMER:
			account = fetch_account(event, &account_columns, previous);
			return days_since(account, account_columns->created_at, event->as_of);
		case RULE_FACT_ATTRIBUTE:
			account = fetch_account(event, &account_columns, previous);
			return attribute_value(account, account_columns, ref->key, ref->type);
		case RULE_FACT_PHASE:
		case RULE_FACT_OWNER_ROLE:
		case RULE_FACT_ARR:
		case RULE_FACT_DAYS_TO_RENEWAL:
		case RULE_FACT_UTILIZATION:
		case RULE_FACT_ADOPTION_CHANGE:
		case RULE_FACT_OPEN_ALERTS:
		case RULE_FACT_OPEN_ALERTS_OF_KIND:
			return query_value(event, ref->fact, ref->key);
		case RULE_FACT_USAGE_ACTIVE_USERS:
			return column_value(row, columns->active_users, RULE_TYPE_NUMBER);
		case RULE_FACT_USAGE_LICENSES_USED:
			return column_value(row, columns->licenses_used, RULE_TYPE_NUMBER);
		case RULE_FACT_USAGE_EVENTS:
			return column_value(row, columns->events, RULE_TYPE_NUMBER);
		case RULE_FACT_CONTRACT_ARR:
			return column_value(row, columns->arr, RULE_TYPE_NUMBER);
		case RULE_FACT_CONTRACT_LICENSES:
			return column_value(row, columns->licenses, RULE_TYPE_NUMBER);
		case RULE_FACT_CONTRACT_STATUS:
			return column_value(row, columns->status, RULE_TYPE_TEXT);
		case RULE_FACT_CONTRACT_AUTO_RENEW:
			return column_value(row, columns->auto_renew, RULE_TYPE_BOOL);
		case RULE_FACT_CONTRACT_DAYS_TO_END:
			{
				bool		isnull;
				DateADT		end_date;

				if (row == NULL || columns->end_date == InvalidAttrNumber)
					return null_value;
				end_date = DatumGetDateADT(slot_getattr(row, columns->end_date, &isnull));
				if (isnull)
					return null_value;
				return number_value((double) (end_date - as_of_date(event->as_of)));
			}
		case RULE_FACT_RENEWAL_THRESHOLD:
			return number_value(event->renewal_threshold);
		case RULE_FACT_PHASE_SHARE:
			return number_value(event->phase_share);
		case RULE_FACT_PREVIOUS_PHASE:
			{
				bool		isnull;
				Datum		phase_id;

				if (event->previous_phase != NULL)
					return text_value(event->previous_phase);
				if (event->old_row == NULL || columns->phase_id == InvalidAttrNumber)
					return null_value;
				phase_id = slot_getattr(event->old_row, columns->phase_id, &isnull);
				if (isnull)
					return null_value;
				cs_rule_event_connect(event);
				return phase_name(DatumGetInt64(phase_id));
			}
		case RULE_FACT_COUNT:
			break;
	}
	return null_value;
}

/*
 * cs_rule_fact_value
 *		Returns the value of a fact for the occurrence, as the rule reads
 *		it. With previous set, reads the row before an update. Values are
 *		kept for the other rules of the event, except attributes, whose
 *		type depends on the comparison, and old values.
 *
 * NOTE: a kept query fact is not read again after an earlier rule's
 * actions, so a later rule of the same occurrence reads, for example,
 * open_alerts.<kind> from before an alert that the earlier rule raised.
 */
RuleValue
cs_rule_fact_value(CsRuleEvent *event, const RuleFactRef *ref, bool previous)
{
	RuleValue	value;

	if (previous || ref->fact == RULE_FACT_ATTRIBUTE)
		return compute(event, ref, previous);

	if (ref->key == NULL)
	{
		if (!event->known[ref->fact])
		{
			event->values[ref->fact] = compute(event, ref, false);
			event->known[ref->fact] = true;
		}
		return event->values[ref->fact];
	}

	for (int i = 0; i < event->keyed_count; i++)
	{
		CsKeyedValue *keyed = &event->keyed[i];

		if (keyed->fact == ref->fact && strcmp(keyed->key, ref->key) == 0)
			return keyed->value;
	}

	value = compute(event, ref, false);
	if (event->keyed == NULL)
		event->keyed = palloc(sizeof(CsKeyedValue) * 8);
	else if (event->keyed_count % 8 == 0)
		event->keyed = repalloc(event->keyed,
								sizeof(CsKeyedValue) * (event->keyed_count + 8));
	event->keyed[event->keyed_count].fact = ref->fact;
	event->keyed[event->keyed_count].key = pstrdup(ref->key);
	event->keyed[event->keyed_count].value = value;
	event->keyed_count++;
	return value;
}

/*
 * cs_rule_number_jsonb_value
 *		A number as a JSON numeric, written with the shortest text that
 *		reads back as the same double, as to_jsonb(float8) writes it.
 */
void
cs_rule_number_jsonb_value(double number, JsonbValue *value)
{
	value->type = jbvNumeric;
	value->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															 CStringGetDatum(float8out_internal(number)),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
}

/*
 * cs_rule_facts_jsonb
 *		The facts a rule reads, as a JSON object from fact name to value.
 */
Jsonb *
cs_rule_facts_jsonb(CsRuleEvent *event, const RuleProgram *program)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < program->fact_count; i++)
	{
		const RuleFactRef *ref = &program->facts[i];
		char		label[160];
		JsonbValue	key;
		JsonbValue	value;
		RuleValue	fact;

		cs_rule_fact_label(ref, label, sizeof(label));
		key.type = jbvString;
		key.val.string.val = pstrdup(label);
		key.val.string.len = strlen(label);
		pushJsonbValue(&state, WJB_KEY, &key);

		if (ref->fact == RULE_FACT_ATTRIBUTE)
		{
			TupleTableSlot *account;
			const CsRowColumns *account_columns;
			bool		isnull = true;
			JsonbValue *found = NULL;

			account = fetch_account(event, &account_columns, false);
			if (account != NULL && account_columns->attributes != InvalidAttrNumber)
			{
				Datum		datum = slot_getattr(account, account_columns->attributes, &isnull);

				if (!isnull)
					found = getKeyJsonValueFromContainer(&DatumGetJsonbP(datum)->root,
														 ref->key, strlen(ref->key), NULL);
			}
			if (found != NULL)
				pushJsonbValue(&state, WJB_VALUE, found);
			else
			{
				value.type = jbvNull;
				pushJsonbValue(&state, WJB_VALUE, &value);
			}
			continue;
		}

		fact = cs_rule_fact_value(event, ref, false);
		switch (fact.type)
		{
			case RULE_TYPE_NUMBER:
				cs_rule_number_jsonb_value(fact.number, &value);
				break;
			case RULE_TYPE_TEXT:
				value.type = jbvString;
				value.val.string.val = (char *) fact.text;
				value.val.string.len = strlen(fact.text);
				break;
			case RULE_TYPE_BOOL:
				value.type = jbvBool;
				value.val.boolean = fact.boolean;
				break;
			default:
				value.type = jbvNull;
				break;
		}
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}
