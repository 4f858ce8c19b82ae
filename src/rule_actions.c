/*-------------------------------------------------------------------------
 *
 * rule_actions.c
 *	  The actions a rule runs when it fires, each through prepared plans
 *	  in the transaction of the change.
 *
 * An action whose target is missing (a phase, role or template that does
 * not exist, an account without a primary contact) is skipped, with the
 * reason in its outcome, rather than failing the change that fired the
 * rule.
 * Each action reports what it created or changed, so that the firing
 * record tells why a row exists.
 *
 * Adding an action: a line in cs_rule_actions[] (rule_parser.c) and a
 * case in cs_rule_run_action below.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_actions.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static SPIPlanPtr alert_plan;
static SPIPlanPtr phase_lookup_plan;
static SPIPlanPtr phase_move_plan;
static SPIPlanPtr phase_history_plan;
static SPIPlanPtr role_lookup_plan;
static SPIPlanPtr owner_state_plan;
static SPIPlanPtr owner_history_plan;
static SPIPlanPtr template_lookup_plan;
static SPIPlanPtr recipient_plan;
static SPIPlanPtr outbox_lookup_plan;
static SPIPlanPtr queue_plan;
static SPIPlanPtr outbox_status_plan;
static SPIPlanPtr attribute_plan;
static SPIPlanPtr playbook_plan;
static SPIPlanPtr playbook_pending_plan;

static void
skip(CsActionOutcome *outcome, const char *format,...) pg_attribute_printf(2, 3);

static void
skip(CsActionOutcome *outcome, const char *format,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, format);
		needed = appendStringInfoVA(&detail, format, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	outcome->result = "skipped";
	outcome->target = NULL;
	outcome->target_id = 0;
	outcome->detail = detail.data;
}

static void
raise_alert(const CsRule *rule, const RuleAction *action, int64 account_id,
			Jsonb *facts, TimestampTz as_of, CsActionOutcome *outcome)
{
	Oid			argtypes[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		values[6];
	char	   *message = cs_rule_render_message(action->params[2], facts);
	bool		isnull;

	values[0] = Int64GetDatum(account_id);
	values[1] = CStringGetTextDatum(action->params[0]);
	values[2] = CStringGetTextDatum(action->params[1]);
	values[3] = CStringGetTextDatum(message);
	values[4] = Int64GetDatum(rule->rule_id);
	values[5] = TimestampTzGetDatum(as_of);

	cs_spi_execute_plan(&alert_plan,
						"INSERT INTO cs.alert AS al "
						"(account_id, kind, severity, message, rule_id, opened_at, last_raised_at) "
						"VALUES ($1, $2, $3, $4, $5, $6, $6) "
						"ON CONFLICT (account_id, kind) WHERE status = 'open' DO UPDATE "
						"SET severity = excluded.severity, message = excluded.message, "
						"rule_id = excluded.rule_id, last_raised_at = excluded.last_raised_at, "
						"raised_count = al.raised_count + 1 "
						"RETURNING al.alert_id, al.raised_count = 1",
						6, argtypes, values, NULL, false, SPI_OK_INSERT_RETURNING);

	outcome->target = "alert";
	outcome->target_id = cs_spi_get_int64(0, 1, NULL);
	outcome->result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull))
		? "created" : "updated";
	outcome->detail = psprintf("%s alert %s: %s", action->params[1],
							   action->params[0], message);
}

static void
move_phase(const CsRule *rule, const RuleAction *action, int64 account_id,
		   TimestampTz as_of, CsActionOutcome *outcome)
{
	Oid			lookup_types[2] = {TEXTOID, INT8OID};
	Datum		lookup_values[2];
	Oid			move_types[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		move_values[3];
	Oid			history_types[2] = {INT8OID, INT8OID};
	int64		phase_id;
	int64		last_history_id;
	bool		isnull;

	/*
	 * The history row of the move is the first one after the newest row
	 * now: rules that the move fires write theirs later.
	 */
	lookup_values[0] = CStringGetTextDatum(action->params[0]);
	lookup_values[1] = Int64GetDatum(account_id);
	cs_spi_execute_plan(&phase_lookup_plan,
						"SELECT p.phase_id, a.phase_id = p.phase_id, "
						"(SELECT coalesce(max(h.phase_history_id), 0) FROM cs.phase_history AS h "
						"WHERE h.account_id = a.account_id) "
						"FROM cs.phase AS p, cs.account AS a "
						"WHERE p.name = $1 AND a.account_id = $2",
						2, lookup_types, lookup_values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		skip(outcome, "phase \"%s\" does not exist", action->params[0]);
		return;
	}
	phase_id = cs_spi_get_int64(0, 1, NULL);
	last_history_id = cs_spi_get_int64(0, 3, NULL);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
	{
		outcome->result = "unchanged";
		outcome->detail = psprintf("already in phase %s", action->params[0]);
		return;
	}

	move_values[0] = Int64GetDatum(account_id);
	move_values[1] = Int64GetDatum(phase_id);
	move_values[2] = TimestampTzGetDatum(as_of);
	cs_spi_execute_plan(&phase_move_plan,
						"UPDATE cs.account SET phase_id = $2, phase_entered_at = $3 "
						"WHERE account_id = $1 AND phase_id <> $2",
						3, move_types, move_values, NULL, false, SPI_OK_UPDATE);

	cs_spi_execute_plan(&phase_history_plan,
						"SELECT min(h.phase_history_id) FROM cs.phase_history AS h "
						"WHERE h.account_id = $1 AND h.phase_history_id > $2",
						2, history_types,
						(Datum[]) {move_values[0], Int64GetDatum(last_history_id)},
						NULL, false, SPI_OK_SELECT);
	outcome->result = "moved";
	outcome->target = "phase_change";
	outcome->target_id = cs_spi_get_int64(0, 1, NULL);
	outcome->detail = psprintf("moved to phase %s", action->params[0]);
}

static void
assign_owner(const CsRule *rule, const RuleAction *action, int64 account_id,
			 TimestampTz as_of, CsActionOutcome *outcome)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	Oid			account_types[2] = {INT8OID, TEXTOID};
	Datum		account_values[2];
	int64		last_history_id;
	bool		isnull;

	values[0] = CStringGetTextDatum(action->params[0]);
	cs_spi_execute_plan(&role_lookup_plan,
						"SELECT 1 FROM cs.team_role AS r WHERE r.role_name = $1",
						1, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		skip(outcome, "team role \"%s\" does not exist", action->params[0]);
		return;
	}

	/*
	 * The history row of this assignment is the first one after the
	 * newest row now: rules that the owner change fires write theirs later.
	 */
	account_values[0] = Int64GetDatum(account_id);
	account_values[1] = values[0];
	cs_spi_execute_plan(&owner_state_plan,
						"SELECT coalesce(max(h.owner_history_id), 0), "
						"(SELECT m.active AND m.role_name = $2 FROM cs.account AS a "
						"JOIN cs.team_member AS m ON m.member_id = a.owner_id "
						"WHERE a.account_id = $1) "
						"FROM cs.owner_history AS h WHERE h.account_id = $1",
						2, account_types, account_values, NULL, false, SPI_OK_SELECT);
	last_history_id = cs_spi_get_int64(0, 1, NULL);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) &&
		!isnull)
	{
		outcome->result = "unchanged";
		outcome->detail = psprintf("owner already has role %s", action->params[0]);
		return;
	}

	if (cs_assign_owners_by_role("a.account_id = $1", action->params[0],
								 action->params[1], 1, account_types,
								 account_values, as_of, false,
								 psprintf("rule %s", rule->name)) == 0)
	{
		skip(outcome, "no active member of role %s can take the account within capacity and segments",
			 action->params[0]);
		return;
	}

	cs_spi_execute_plan(&owner_history_plan,
						"SELECT h.owner_history_id, 'owner set to ' || m.name || ' (member ' "
						"|| m.member_id || '): ' || h.reason "
						"FROM cs.owner_history AS h "
						"JOIN cs.team_member AS m ON m.member_id = h.to_member_id "
						"WHERE h.account_id = $1 AND h.owner_history_id > $2 "
						"ORDER BY h.owner_history_id LIMIT 1",
						2, (Oid[]) {INT8OID, INT8OID},
						(Datum[]) {account_values[0], Int64GetDatum(last_history_id)},
						NULL, false, SPI_OK_SELECT);
	outcome->result = "updated";
	outcome->target = "owner_change";
	outcome->target_id = SPI_processed == 1 ? cs_spi_get_int64(0, 1, NULL) : 0;
	outcome->detail = SPI_processed == 1 ? cs_spi_get_text(0, 2) : NULL;
}

static void
queue_email(const CsRule *rule, const RuleAction *action, int64 account_id,
			TimestampTz as_of, CsActionOutcome *outcome)
{
	Oid			key_types[6] = {INT8OID, INT4OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		key_values[6];
	Oid			text_type[1] = {TEXTOID};
	Datum		text_value[1];
	Oid			recipient_types[2] = {INT8OID, TEXTOID};
	Datum		recipient_values[2];
	char	   *key;
	int64		outbox_id;

	text_value[0] = CStringGetTextDatum(action->params[0]);
	cs_spi_execute_plan(&template_lookup_plan,
						"SELECT 1 FROM cs.email_template AS t WHERE t.name = $1",
						1, text_type, text_value, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		skip(outcome, "e-mail template \"%s\" does not exist", action->params[0]);
		return;
	}

	recipient_values[0] = Int64GetDatum(account_id);
	recipient_values[1] = CStringGetTextDatum(action->params[1]);
	cs_spi_execute_plan(&recipient_plan,
						"SELECT CASE $2 WHEN 'owner' THEN a.owner_id IS NOT NULL "
						"ELSE EXISTS (SELECT 1 FROM cs.contact AS c "
						"WHERE c.account_id = a.account_id AND c.is_primary) END "
						"FROM cs.account AS a WHERE a.account_id = $1",
						2, recipient_types, recipient_values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1 || strcmp(cs_spi_get_text(0, 1), "t") != 0)
	{
		skip(outcome, "account has no %s",
			 strcmp(action->params[1], "owner") == 0 ? "owner" : "primary contact");
		return;
	}

	/* rule:<id>:v<version>:account:<id>:<period> */
	key_values[0] = Int64GetDatum(rule->rule_id);
	key_values[1] = Int32GetDatum(rule->version);
	key_values[2] = Int64GetDatum(account_id);
	key_values[3] = CStringGetTextDatum(action->params[2]);
	key_values[4] = TimestampTzGetDatum(as_of);
	key_values[5] = CStringGetTextDatum(action->params[0]);
	cs_spi_execute_plan(&outbox_lookup_plan,
						"SELECT k.key, o.outbox_id FROM (SELECT 'rule:' || $1 || ':v' || $2 "
						"|| ':account:' || $3 || ':' || CASE $4 WHEN 'once' THEN 'once' "
						"ELSE pg_catalog.to_char(pg_catalog.date_trunc($4, $5), 'YYYY-MM-DD') END "
						"|| ':' || $6 AS key) AS k "
						"LEFT JOIN cs.email_outbox AS o ON o.idempotency_key = k.key",
						6, key_types, key_values, NULL, false, SPI_OK_SELECT);
	key = cs_spi_get_text(0, 1);
	if (cs_spi_get_text(0, 2) != NULL)
	{
		outcome->result = "unchanged";
		outcome->target = "email";
		outcome->target_id = cs_spi_get_int64(0, 2, NULL);
		outcome->detail = psprintf("already queued with key %s", key);
		return;
	}

	/*
	 * Two statements: a scan of the outbox in the statement that calls
	 * cs.queue_email would not see the row the call inserts.
	 */
	cs_spi_execute_plan(&queue_plan,
						"SELECT cs.queue_email($1, $2, $3, $4, $5)",
						5, (Oid[]) {TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID},
						(Datum[]) {text_value[0], recipient_values[0], recipient_values[1],
						CStringGetTextDatum(key), TimestampTzGetDatum(as_of)},
						NULL, false, SPI_OK_SELECT);
	outbox_id = cs_spi_get_int64(0, 1, NULL);
	cs_spi_execute_plan(&outbox_status_plan,
						"SELECT o.status FROM cs.email_outbox AS o WHERE o.outbox_id = $1",
						1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(outbox_id)},
						NULL, false, SPI_OK_SELECT);
	outcome->result = "queued";
	outcome->target = "email";
	outcome->target_id = outbox_id;
	outcome->detail = psprintf("template %s to %s, %s",
							   action->params[0], action->params[1],
							   SPI_processed == 1 ? cs_spi_get_text(0, 1) : "not found");
}

static void
set_attribute(const CsRule *rule, const RuleAction *action, int64 account_id,
			  CsActionOutcome *outcome)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int64GetDatum(account_id);
	values[1] = CStringGetTextDatum(action->params[0]);
	values[2] = CStringGetTextDatum(action->params[1]);
	cs_spi_execute_plan(&attribute_plan,
						"UPDATE cs.account AS a "
						"SET attributes = a.attributes || pg_catalog.jsonb_build_object($2, $3::jsonb) "
						"WHERE a.account_id = $1 AND a.attributes -> $2 IS DISTINCT FROM $3::jsonb",
						3, argtypes, values, NULL, false, SPI_OK_UPDATE);
	outcome->target = "attribute";
	outcome->target_id = account_id;
	outcome->result = SPI_processed > 0 ? "updated" : "unchanged";
	outcome->detail = psprintf("%s = %s", action->params[0], action->params[1]);
}

static void
start_playbook(const CsRule *rule, const RuleAction *action, int64 account_id,
			   TimestampTz as_of, CsActionOutcome *outcome)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		values[4];

	values[0] = Int64GetDatum(account_id);
	values[1] = CStringGetTextDatum(action->params[0]);
	values[2] = Int64GetDatum(rule->rule_id);
	values[3] = TimestampTzGetDatum(as_of);
	cs_spi_execute_plan(&playbook_plan,
						"INSERT INTO cs.playbook_request (account_id, playbook, rule_id, requested_at) "
						"VALUES ($1, $2, $3, $4) "
						"ON CONFLICT (account_id, playbook) WHERE status = 'pending' DO NOTHING "
						"RETURNING playbook_request_id",
						4, argtypes, values, NULL, false, SPI_OK_INSERT_RETURNING);
	outcome->target = "playbook_request";
	if (SPI_processed == 1)
	{
		outcome->result = "created";
		outcome->target_id = cs_spi_get_int64(0, 1, NULL);
		outcome->detail = psprintf("playbook %s requested", action->params[0]);
		return;
	}

	cs_spi_execute_plan(&playbook_pending_plan,
						"SELECT r.playbook_request_id FROM cs.playbook_request AS r "
						"WHERE r.account_id = $1 AND r.playbook = $2 AND r.status = 'pending'",
						2, argtypes, values, NULL, false, SPI_OK_SELECT);
	outcome->result = "unchanged";
	outcome->target_id = SPI_processed == 1 ? cs_spi_get_int64(0, 1, NULL) : 0;
	outcome->detail = psprintf("playbook %s already requested", action->params[0]);
}

/*
 * cs_rule_run_action
 *		Runs one action of a firing rule for an account. SPI is connected.
 *		The account triggers see the change as made by the rule.
 */
void
cs_rule_run_action(const CsRule *rule, const RuleAction *action,
				   int64 account_id, Jsonb *facts, TimestampTz as_of,
				   CsActionOutcome *outcome)
{
	CsAutomationContext context = {NULL, as_of, false, false};
	CsAutomationContext *saved_context = cs_current_automation;

	memset(outcome, 0, sizeof(*outcome));
	context.automation = psprintf("rule %s", rule->name);

	cs_current_automation = &context;
	PG_TRY();
	{
		switch (action->kind)
		{
			case RULE_ACTION_RAISE_ALERT:
				raise_alert(rule, action, account_id, facts, as_of, outcome);
				break;
			case RULE_ACTION_MOVE_PHASE:
				move_phase(rule, action, account_id, as_of, outcome);
				break;
			case RULE_ACTION_ASSIGN_OWNER:
				assign_owner(rule, action, account_id, as_of, outcome);
				break;
			case RULE_ACTION_QUEUE_EMAIL:
				queue_email(rule, action, account_id, as_of, outcome);
				break;
			case RULE_ACTION_SET_ATTRIBUTE:
				set_attribute(rule, action, account_id, outcome);
				break;
			case RULE_ACTION_START_PLAYBOOK:
				start_playbook(rule, action, account_id, as_of, outcome);
				break;
			case RULE_ACTION_COUNT:
				break;
		}
	}
	PG_FINALLY();
	{
		cs_current_automation = saved_context;
	}
	PG_END_TRY();
}
