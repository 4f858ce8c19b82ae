/*-------------------------------------------------------------------------
 *
 * rule_engine.h
 *	  Server-side declarations of the rules engine: the compiled-rule cache,
 *	  fact evaluation, the firing of a rule and its actions.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_engine.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RULE_ENGINE_H
#define RULE_ENGINE_H

#include "pg_success.h"

#include "executor/tuptable.h"
#include "utils/jsonb.h"

#include "rule_model.h"

/* A rule from cs.rule, compiled, as the cache keeps it. */
typedef struct CsRule
{
	int64		rule_id;
	char	   *name;
	int32		version;
	int32		priority;
	Interval	cooldown;
	bool		has_cooldown;
	RuleProgram *program;
} CsRule;

/* The enabled rules of one event, in evaluation order. */
typedef struct CsRuleList
{
	int			count;
	CsRule	  **rules;
} CsRuleList;

/*
 * Column numbers of a table's rows, looked up once per statement so that
 * reading a fact from a row costs no name search.
 */
typedef struct CsRowColumns
{
	AttrNumber	account_id;
	AttrNumber	contract_id;	/* contract rows */
	/* account rows */
	AttrNumber	name;
	AttrNumber	segment;
	AttrNumber	category;
	AttrNumber	tier;
	AttrNumber	status;
	AttrNumber	created_at;
	AttrNumber	owner_id;
	AttrNumber	phase_id;
	AttrNumber	phase_entered_at;
	AttrNumber	attributes;
	/* usage rows */
	AttrNumber	active_users;
	AttrNumber	licenses_used;
	AttrNumber	events;
	/* contract rows */
	AttrNumber	arr;
	AttrNumber	licenses;
	AttrNumber	auto_renew;
	AttrNumber	end_date;
} CsRowColumns;

/*
 * One occurrence of an event for one account: the row that raised it and,
 * for an update, the row before. Facts are computed from it on demand and
 * kept for every rule of the event.
 */
typedef struct CsRuleEvent
{
	RuleEvent	event;
	TimestampTz as_of;
	int64		account_id;
	int64		subject_id;		/* contract_id, or 0 */

	TupleTableSlot *row;		/* row of the event's table */
	TupleTableSlot *old_row;	/* the row before an update, or NULL */
	const CsRowColumns *columns;	/* of row and old_row */

	/* values a sweep supplies */
	double		renewal_threshold;
	double		phase_share;
	const char *previous_phase; /* NULL when none */

	/* computed on demand */
	bool		spi_connected;	/* by the first fact or firing that needs it */
	TupleTableSlot *account;	/* the account row, when row is not one */
	const CsRowColumns *account_columns;
	bool		account_fetched;
	bool		known[RULE_FACT_COUNT];
	RuleValue	values[RULE_FACT_COUNT];
	int			keyed_count;
	struct CsKeyedValue *keyed;
} CsRuleEvent;

/* rule_cache.c */
extern void cs_rule_cache_init(void);
extern const CsRuleList *cs_rule_cache_event(RuleEvent event);
extern void cs_rule_cache_pin(void);
extern void cs_rule_cache_unpin(void);
extern void cs_rule_cache_reset_pins(void);
extern RuleProgram *cs_rule_compile_or_error(const char *event_name,
											 const char *condition_json,
											 const char *actions_json,
											 MemoryContext context);

/* rule_facts.c */
extern void cs_rule_columns_for(TupleDesc tupdesc, CsRowColumns *columns);
extern void cs_rule_event_reset(CsRuleEvent *event);
extern RuleValue cs_rule_fact_value(CsRuleEvent *event, const RuleFactRef *ref,
									bool previous);
extern Jsonb *cs_rule_facts_jsonb(CsRuleEvent *event, const RuleProgram *program);
extern void cs_rule_event_release(CsRuleEvent *event);
extern void cs_rule_event_connect(CsRuleEvent *event);
extern void cs_rule_event_disconnect(CsRuleEvent *event);
extern const char *cs_rule_query_fact_sql(RuleFact fact);
extern void cs_rule_number_jsonb_value(double number, JsonbValue *value);

/*
 * cs_rule_known_fact
 *		The value of an unkeyed fact that the occurrence has already read,
 *		or NULL. Evaluation calls it inline before cs_rule_fact_value, so
 *		that a hundred rules on the same column of a row cost a hundred
 *		array look-ups rather than a hundred calls.
 */
static inline const RuleValue *
cs_rule_known_fact(const CsRuleEvent *event, const RuleFactRef *ref)
{
	if (ref->key == NULL && event->known[ref->fact] &&
		ref->fact != RULE_FACT_ATTRIBUTE)
		return &event->values[ref->fact];
	return NULL;
}

/* rule_eval.c */
#define RULE_MESSAGE_MAX_BYTES 4000

extern bool cs_rule_condition_holds(CsRuleEvent *event, const RuleNode *node);
extern bool cs_rule_text_matches(const char *text, const char *pattern);
extern char *cs_rule_render_message(const char *message, Jsonb *facts);

/* rule_firing.c */
extern bool cs_rules_enabled;
extern void cs_rule_depth_init(void);
extern void cs_rules_evaluate(CsRuleEvent *event, const CsRuleList *list);
extern int64 cs_rule_fire(const CsRule *rule, const char *event_name,
						  int64 account_id, int64 subject_id, Jsonb *facts,
						  TimestampTz as_of, const char *fired_by);

/* rule_actions.c */
typedef struct CsActionOutcome
{
	const char *result;			/* created, updated, moved, queued, ... */
	const char *target;			/* kind of row made or changed, or NULL */
	int64		target_id;
	char	   *detail;
} CsActionOutcome;

extern void cs_rule_run_action(const CsRule *rule, const RuleAction *action,
							   int64 account_id, Jsonb *facts,
							   TimestampTz as_of, CsActionOutcome *outcome);

#endif							/* RULE_ENGINE_H */
