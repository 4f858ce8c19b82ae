/*-------------------------------------------------------------------------
 *
 * rule_model.h
 *	  The vocabulary of rules (events, facts, operators, actions) and the
 *	  compiled form of a rule.
 *
 * This header and rule_parser.c use only the C library and cJSON, so that
 * the parser can be built outside the server, as the fuzz harness in
 * test/fuzz does. Everything that needs the server lives elsewhere.
 *
 * Adding an event or a fact is a local change: one line in the tables of
 * rule_parser.c, a case where its value is read (rule_facts.c) and, for a
 * new event, the trigger or sweep that raises it.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_model.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RULE_MODEL_H
#define RULE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Events. The order is the order of cs_rule_events[]. */
typedef enum RuleEvent
{
	RULE_EVENT_ACCOUNT_CREATED,
	RULE_EVENT_ACCOUNT_UPDATED,
	RULE_EVENT_USAGE_RECORDED,
	RULE_EVENT_CONTRACT_CHANGED,
	RULE_EVENT_PHASE_ENTERED,
	RULE_EVENT_RENEWAL_DUE,
	RULE_EVENT_PHASE_OVERDUE,
	RULE_EVENT_COUNT
} RuleEvent;

/* The table whose row raised an event. */
typedef enum RuleSubject
{
	RULE_SUBJECT_ACCOUNT,
	RULE_SUBJECT_USAGE,
	RULE_SUBJECT_CONTRACT
} RuleSubject;

typedef struct RuleEventDef
{
	const char *name;
	RuleSubject subject;
	bool		has_previous;	/* an old row can exist (change operators) */
	bool		is_timed;		/* raised by a sweep, not by a trigger */
	const char *description;
} RuleEventDef;

typedef enum RuleValueType
{
	RULE_TYPE_NULL,				/* a NULL value; for a fact: typed by use */
	RULE_TYPE_NUMBER,
	RULE_TYPE_TEXT,
	RULE_TYPE_BOOL
} RuleValueType;

typedef struct RuleValue
{
	RuleValueType type;
	double		number;
	const char *text;
	bool		boolean;
} RuleValue;

/* Where the value of a fact comes from, cheapest first. */
typedef enum RuleFactSource
{
	RULE_SOURCE_EVENT,			/* the row that raised the event, or the sweep */
	RULE_SOURCE_ACCOUNT,		/* the account row: free for account events */
	RULE_SOURCE_QUERY			/* a query over other tables */
} RuleFactSource;

/* Facts. The order is the order of cs_rule_facts[]. */
typedef enum RuleFact
{
	RULE_FACT_NAME,
	RULE_FACT_SEGMENT,
	RULE_FACT_CATEGORY,
	RULE_FACT_TIER,
	RULE_FACT_STATUS,
	RULE_FACT_DAYS_IN_PHASE,
	RULE_FACT_DAYS_AS_CUSTOMER,
	RULE_FACT_ATTRIBUTE,
	RULE_FACT_PHASE,
	RULE_FACT_OWNER_ROLE,
	RULE_FACT_ARR,
	RULE_FACT_DAYS_TO_RENEWAL,
	RULE_FACT_UTILIZATION,
	RULE_FACT_ADOPTION_CHANGE,
	RULE_FACT_OPEN_ALERTS,
	RULE_FACT_OPEN_ALERTS_OF_KIND,
	RULE_FACT_USAGE_ACTIVE_USERS,
	RULE_FACT_USAGE_LICENSES_USED,
	RULE_FACT_USAGE_EVENTS,
	RULE_FACT_CONTRACT_ARR,
	RULE_FACT_CONTRACT_LICENSES,
	RULE_FACT_CONTRACT_STATUS,
	RULE_FACT_CONTRACT_AUTO_RENEW,
	RULE_FACT_CONTRACT_DAYS_TO_END,
	RULE_FACT_RENEWAL_THRESHOLD,
	RULE_FACT_PREVIOUS_PHASE,
	RULE_FACT_PHASE_SHARE,
	RULE_FACT_COUNT
} RuleFact;

#define RULE_EVENT_BIT(e) (1u << (e))
#define RULE_ALL_EVENTS ((1u << RULE_EVENT_COUNT) - 1)

typedef struct RuleFactDef
{
	const char *name;			/* for a keyed fact, the prefix before '.' */
	bool		keyed;			/* name.<key>, such as attributes.plan */
	RuleValueType type;			/* RULE_TYPE_NULL: typed by the comparison */
	RuleFactSource source;
	uint32_t	events;			/* RULE_EVENT_BIT of the events that have it */
	bool		has_previous;	/* has a value in the old row */
	const char *description;
} RuleFactDef;

/* Condition operators. The order is the order of cs_rule_operators[]. */
typedef enum RuleOperator
{
	RULE_OP_EQ,
	RULE_OP_NE,
	RULE_OP_LT,
	RULE_OP_LE,
	RULE_OP_GT,
	RULE_OP_GE,
	RULE_OP_IN,
	RULE_OP_BETWEEN,
	RULE_OP_IS_NULL,
	RULE_OP_MATCHES,
	RULE_OP_CHANGED,
	RULE_OP_INCREASED_BY,
	RULE_OP_DECREASED_BY,
	RULE_OP_CROSSED_BELOW,
	RULE_OP_CROSSED_ABOVE,
	RULE_OP_COUNT
} RuleOperator;

typedef struct RuleOperatorDef
{
	const char *name;
	bool		needs_previous; /* compares the old row with the new */
	const char *description;
} RuleOperatorDef;

typedef enum RuleNodeKind
{
	RULE_NODE_ALL,
	RULE_NODE_ANY,
	RULE_NODE_NOT,
	RULE_NODE_COMPARE
} RuleNodeKind;

/* A fact as a rule names it: the fact and, for a keyed fact, the key. */
typedef struct RuleFactRef
{
	RuleFact	fact;
	const char *key;			/* NULL unless the fact is keyed */
	RuleValueType type;			/* the type the rule reads it as */
} RuleFactRef;

typedef struct RuleNode
{
	RuleNodeKind kind;
	int			cost;			/* highest RuleFactSource below this node */

	/* all, any, not */
	int			child_count;
	struct RuleNode **children;

	/* comparisons */
	RuleFactRef fact;
	RuleOperator op;
	int			operand_count;
	RuleValue  *operands;		/* in: the list; between: low, high */
	bool		percent;		/* increased_by, decreased_by in percent */
	bool		expect_null;	/* is_null: true or false */
	const char *path;			/* JSON path, for run-time messages */
} RuleNode;

/* Actions. The order is the order of cs_rule_actions[]. */
typedef enum RuleActionKind
{
	RULE_ACTION_RAISE_ALERT,
	RULE_ACTION_MOVE_PHASE,
	RULE_ACTION_ASSIGN_OWNER,
	RULE_ACTION_QUEUE_EMAIL,
	RULE_ACTION_SET_ATTRIBUTE,
	RULE_ACTION_START_PLAYBOOK,
	RULE_ACTION_COUNT
} RuleActionKind;

#define RULE_ACTION_MAX_PARAMS 4

typedef enum RuleParamType
{
	RULE_PARAM_TEXT,			/* a non-empty string */
	RULE_PARAM_MESSAGE,			/* a string with {{fact}} merge fields */
	RULE_PARAM_JSON				/* any JSON value, kept as JSON text */
} RuleParamType;

typedef struct RuleParamDef
{
	const char *name;
	RuleParamType type;
	bool		required;
	const char *default_value;	/* when not required and absent */
	const char *const *allowed; /* NULL-terminated, or NULL for any */
} RuleParamDef;

typedef struct RuleActionDef
{
	const char *name;
	int			param_count;
	RuleParamDef params[RULE_ACTION_MAX_PARAMS];
	const char *description;
} RuleActionDef;

typedef struct RuleAction
{
	RuleActionKind kind;
	const char *params[RULE_ACTION_MAX_PARAMS]; /* in the order of the def */
	const char *path;
} RuleAction;

/* A rule ready to evaluate. */
typedef struct RuleProgram
{
	RuleEvent	event;
	RuleNode   *condition;
	int			action_count;
	RuleAction *actions;
	int			fact_count;		/* distinct facts read by the rule */
	RuleFactRef *facts;
	int			cost;			/* highest RuleFactSource the rule reads */
} RuleProgram;

/* A compile error: its JSON path, message, the value found and a hint. */
#define RULE_ERROR_PATH_SIZE 256
#define RULE_ERROR_TEXT_SIZE 512

typedef struct RuleError
{
	char		path[RULE_ERROR_PATH_SIZE];	/* such as $.condition.all[2].gt */
	char		message[RULE_ERROR_TEXT_SIZE];
	char		found[RULE_ERROR_TEXT_SIZE];	/* what the path holds */
	char		hint[RULE_ERROR_TEXT_SIZE * 2];
} RuleError;

/*
 * Memory for the compiled rule. alloc returns zeroed memory or NULL; the
 * caller frees everything at once (a memory context, or an arena).
 */
typedef struct RuleAllocator
{
	void	   *(*alloc) (void *state, size_t size);
	void	   *state;
} RuleAllocator;

/*
 * Checks the server can do and the parser cannot. Each returns NULL when
 * the value is fine, or a message. Either can be NULL.
 */
typedef struct RuleChecks
{
	const char *(*check_pattern) (void *state, const char *pattern);
	void	   *state;
} RuleChecks;

extern const RuleEventDef cs_rule_events[RULE_EVENT_COUNT];
extern const RuleFactDef cs_rule_facts[RULE_FACT_COUNT];
extern const RuleOperatorDef cs_rule_operators[RULE_OP_COUNT];
extern const RuleActionDef cs_rule_actions[RULE_ACTION_COUNT];

extern int	cs_rule_find_event(const char *name);

/*
 * Compiles a rule from the JSON text of its condition and actions.
 * Returns NULL and fills *error when the rule is not valid. Never reads
 * past a text's terminating NUL and never keeps a pointer into it.
 */
extern RuleProgram *cs_rule_compile(const char *event_name,
									const char *condition_json,
									const char *actions_json,
									const RuleAllocator *allocator,
									const RuleChecks *checks,
									RuleError *error);

/* The name of a fact reference, such as "attributes.plan", into buffer. */
extern void cs_rule_fact_label(const RuleFactRef *ref, char *buffer,
							   size_t size);

#endif							/* RULE_MODEL_H */
