/*-------------------------------------------------------------------------
 *
 * rule_parser.c
 *	  The rule vocabulary and the compiler from JSON to RuleProgram.
 *
 * A rule is an event, a condition and a list of actions. The condition is
 * a tree of objects:
 *
 *		{"all": [c, ...]}, {"any": [c, ...]}, {"not": c}
 *		{"fact": "<fact>", "<operator>": <operand>}
 *
 * and each action is an object {"action": "<name>", "<param>": ..., ...}.
 * Every mistake is reported with the JSON path where it is, what was found
 * there and the names that are allowed, so that the admin who wrote the
 * rule can fix it from the message alone.
 *
 * The compiler sorts the children of "all" and "any" so that facts read
 * from the changed row come before facts that need a query: a condition
 * that fails on the row decides without touching another table.
 *
 * This file uses only the C library and cJSON (see rule_model.h).
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_parser.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Limits that keep a rule small enough to evaluate per row. */
#define MAX_CONDITION_DEPTH 32
#define MAX_CONDITION_NODES 1000
#define MAX_LIST_ITEMS 1000
#define MAX_ACTIONS 20
#define MAX_TEXT_LENGTH 4000
#define MAX_KEY_LENGTH 63
#define MAX_JSON_NESTING 100

#define ACCOUNT_EVENTS RULE_ALL_EVENTS
#define USAGE_EVENTS RULE_EVENT_BIT(RULE_EVENT_USAGE_RECORDED)
#define CONTRACT_EVENTS (RULE_EVENT_BIT(RULE_EVENT_CONTRACT_CHANGED) | \
						 RULE_EVENT_BIT(RULE_EVENT_RENEWAL_DUE))

const RuleEventDef cs_rule_events[RULE_EVENT_COUNT] = {
	{"account_created", RULE_SUBJECT_ACCOUNT, false, false,
	"a row was inserted into cs.account"},
	{"account_updated", RULE_SUBJECT_ACCOUNT, true, false,
	"a row of cs.account was updated"},
	{"usage_recorded", RULE_SUBJECT_USAGE, true, false,
	"a row of cs.usage_daily was inserted or updated"},
	{"contract_changed", RULE_SUBJECT_CONTRACT, true, false,
	"a row of cs.contract was inserted or updated"},
	{"phase_entered", RULE_SUBJECT_ACCOUNT, false, false,
	"an account entered a phase, on insert or on a phase change"},
	{"renewal_due", RULE_SUBJECT_CONTRACT, false, true,
	"an active contract ends within a threshold of days (sweep)"},
	{"phase_overdue", RULE_SUBJECT_ACCOUNT, false, true,
	"an account spent longer than a share of its phase's duration (sweep)"},
};

const RuleFactDef cs_rule_facts[RULE_FACT_COUNT] = {
	{"name", false, RULE_TYPE_TEXT, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"account name"},
	{"segment", false, RULE_TYPE_TEXT, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"account segment"},
	{"category", false, RULE_TYPE_TEXT, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"account category"},
	{"tier", false, RULE_TYPE_TEXT, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"account tier"},
	{"status", false, RULE_TYPE_TEXT, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"account status: active or churned"},
	{"days_in_phase", false, RULE_TYPE_NUMBER, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, false,
	"whole days since the account entered its phase"},
	{"days_as_customer", false, RULE_TYPE_NUMBER, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, false,
	"whole days since the account was created"},
	{"attributes", true, RULE_TYPE_NULL, RULE_SOURCE_ACCOUNT, ACCOUNT_EVENTS, true,
	"attributes.<key>: a key of cs.account.attributes, read as the type it is compared with"},
	{"phase", false, RULE_TYPE_TEXT, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"name of the account's phase"},
	{"owner_role", false, RULE_TYPE_TEXT, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"team role of the account's owner; null without an owner"},
	{"arr", false, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"ARR of the account's active contracts"},
	{"days_to_renewal", false, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"days until the earliest end date of an active contract; null without one"},
	{"utilization", false, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"licenses used on the latest usage day over licenses of active contracts"},
	{"adoption_change", false, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"percent change of average daily active users, last 7 days against the 28 before"},
	{"open_alerts", false, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"number of open alerts of the account"},
	{"open_alerts", true, RULE_TYPE_NUMBER, RULE_SOURCE_QUERY, ACCOUNT_EVENTS, false,
	"open_alerts.<kind>: 1 when the account has an open alert of that kind, else 0"},
	{"usage.active_users", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, USAGE_EVENTS, true,
	"active users of the usage row"},
	{"usage.licenses_used", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, USAGE_EVENTS, true,
	"licenses used of the usage row"},
	{"usage.events", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, USAGE_EVENTS, true,
	"product events of the usage row"},
	{"contract.arr", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, CONTRACT_EVENTS, true,
	"ARR of the contract"},
	{"contract.licenses", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, CONTRACT_EVENTS, true,
	"licenses of the contract"},
	{"contract.status", false, RULE_TYPE_TEXT, RULE_SOURCE_EVENT, CONTRACT_EVENTS, true,
	"status of the contract: active, renewed or churned"},
	{"contract.auto_renew", false, RULE_TYPE_BOOL, RULE_SOURCE_EVENT, CONTRACT_EVENTS, true,
	"true when the contract renews unless cancelled"},
	{"contract.days_to_end", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT, CONTRACT_EVENTS, true,
	"days until the contract's end date"},
	{"renewal.threshold", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT,
		RULE_EVENT_BIT(RULE_EVENT_RENEWAL_DUE), false,
	"the threshold in days that the contract reached, such as 90, 60 or 30"},
	{"previous_phase", false, RULE_TYPE_TEXT, RULE_SOURCE_EVENT,
		RULE_EVENT_BIT(RULE_EVENT_PHASE_ENTERED), false,
	"name of the phase the account left; null for a new account"},
	{"phase_share", false, RULE_TYPE_NUMBER, RULE_SOURCE_EVENT,
		RULE_EVENT_BIT(RULE_EVENT_PHASE_OVERDUE), false,
	"time in the phase over the phase's duration, such as 1.5"},
};

const RuleOperatorDef cs_rule_operators[RULE_OP_COUNT] = {
	{"eq", false, "equal to a number, string or boolean"},
	{"ne", false, "not equal"},
	{"lt", false, "less than"},
	{"le", false, "less than or equal"},
	{"gt", false, "greater than"},
	{"ge", false, "greater than or equal"},
	{"in", false, "equal to one of a list"},
	{"between", false, "within [low, high], both included"},
	{"is_null", false, "true: the fact has no value; false: it has one"},
	{"matches", false, "matches a POSIX regular expression"},
	{"changed", true, "true: the old and new rows differ; false: they do not"},
	{"increased_by", true, "rose by at least a number, or {\"percent\": p}"},
	{"decreased_by", true, "fell by at least a number, or {\"percent\": p}"},
	{"crossed_below", true, "was at or above the value and is now below it"},
	{"crossed_above", true, "was at or below the value and is now above it"},
};

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};
static const char *const strategies[] = {"least_accounts", "least_arr", "round_robin", NULL};
static const char *const recipients[] = {"primary_contact", "owner", NULL};
static const char *const periods[] = {"once", "day", "week", "month", "year", NULL};

const RuleActionDef cs_rule_actions[RULE_ACTION_COUNT] = {
	{"raise_alert", 3, {
			{"kind", RULE_PARAM_TEXT, true, NULL, NULL},
			{"severity", RULE_PARAM_TEXT, false, "medium", severities},
			{"message", RULE_PARAM_MESSAGE, true, NULL, NULL}},
	"opens an alert of a kind, or updates the open one"},
	{"move_phase", 1, {
			{"phase", RULE_PARAM_TEXT, true, NULL, NULL}},
	"moves the account to a phase"},
	{"assign_owner", 2, {
			{"role", RULE_PARAM_TEXT, true, NULL, NULL},
			{"strategy", RULE_PARAM_TEXT, false, "least_accounts", strategies}},
	"gives the account an owner of a team role"},
	{"queue_email", 3, {
			{"template", RULE_PARAM_TEXT, true, NULL, NULL},
			{"to", RULE_PARAM_TEXT, false, "primary_contact", recipients},
			{"period", RULE_PARAM_TEXT, false, "day", periods}},
	"queues a templated e-mail, at most once per rule version, account and period"},
	{"set_attribute", 2, {
			{"key", RULE_PARAM_TEXT, true, NULL, NULL},
			{"value", RULE_PARAM_JSON, true, NULL, NULL}},
	"sets a key of the account's attributes"},
	{"start_playbook", 1, {
			{"playbook", RULE_PARAM_TEXT, true, NULL, NULL}},
	"asks for a playbook to start for the account"},
};

/* State of one compilation. */
typedef struct Compiler
{
	RuleEvent	event;
	const RuleAllocator *allocator;
	const RuleChecks *checks;
	RuleError  *error;
	bool		failed;
	bool		out_of_memory;
	int			node_count;
	char		path[RULE_ERROR_PATH_SIZE];
	size_t		path_length;
	/* facts read, in order of first use */
	int			fact_count;
	int			fact_capacity;
	RuleFactRef *facts;
} Compiler;

static void *compiler_alloc(Compiler *compiler, size_t size);
static char *compiler_strdup(Compiler *compiler, const char *text);
static void fail(Compiler *compiler, const cJSON *found, const char *hint,
				 const char *format,...) __attribute__((format(printf, 4, 5)));
static size_t path_push_key(Compiler *compiler, const char *key);
static size_t path_push_index(Compiler *compiler, int index);
static void path_pop(Compiler *compiler, size_t length);
static void describe_json(const cJSON *item, char *buffer, size_t size);
static void list_names(char *buffer, size_t size, const char *intro,
					   const char *const *names, int count);
static RuleNode *compile_node(Compiler *compiler, const cJSON *item, int depth);
static RuleNode *compile_group(Compiler *compiler, const cJSON *object,
							   const cJSON *member, int depth);
static RuleNode *compile_comparison(Compiler *compiler, const cJSON *object);
static bool resolve_fact(Compiler *compiler, const cJSON *item,
						 RuleFactRef *ref);
static bool compile_operand(Compiler *compiler, RuleNode *node,
							const cJSON *operand);
static bool read_scalar(Compiler *compiler, const cJSON *item,
						RuleValueType wanted, RuleValue *value);
static void remember_fact(Compiler *compiler, const RuleFactRef *ref);
static int	fact_cost(Compiler *compiler, RuleFact fact);
static void sort_children(RuleNode *node);
static bool compile_actions(Compiler *compiler, const cJSON *list,
							RuleProgram *program);
static bool compile_action(Compiler *compiler, const cJSON *object,
						   RuleAction *action);
static bool check_message(Compiler *compiler, const cJSON *item,
						  const char *text);
static bool check_key(Compiler *compiler, const cJSON *item, const char *key,
					  const char *what);

/*
 * json_nesting_depth
 *		The deepest nesting of arrays and objects in a JSON text, counted
 *		outside strings. cJSON fails on nesting deeper than 1000 levels with
 *		no reason given, so the compiler checks the depth first and reports
 *		too deep a nesting itself.
 */
static int
json_nesting_depth(const char *text)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;

	if (text == NULL)
		return 0;
	for (const char *c = text; *c != '\0'; c++)
	{
		if (in_string)
		{
			if (*c == '\\' && c[1] != '\0')
				c++;
			else if (*c == '"')
				in_string = false;
			continue;
		}
		if (*c == '"')
			in_string = true;
		else if (*c == '[' || *c == '{')
		{
			if (++depth > deepest)
				deepest = depth;
		}
		else if ((*c == ']' || *c == '}') && depth > 0)
			depth--;
	}
	return deepest;
}

int
cs_rule_find_event(const char *name)
{
	for (int i = 0; i < RULE_EVENT_COUNT; i++)
		if (strcmp(cs_rule_events[i].name, name) == 0)
			return i;
	return -1;
}

void
cs_rule_fact_label(const RuleFactRef *ref, char *buffer, size_t size)
{
	if (ref->key != NULL)
		snprintf(buffer, size, "%s.%s", cs_rule_facts[ref->fact].name, ref->key);
	else
		snprintf(buffer, size, "%s", cs_rule_facts[ref->fact].name);
}

static void *
compiler_alloc(Compiler *compiler, size_t size)
{
	void	   *memory = compiler->allocator->alloc(compiler->allocator->state,
													size);

	if (memory == NULL && !compiler->failed)
	{
		compiler->out_of_memory = true;
		fail(compiler, NULL, "Simplify the rule.", "out of memory while compiling the rule");
	}
	return memory;
}

static char *
compiler_strdup(Compiler *compiler, const char *text)
{
	size_t		length = strlen(text);
	char	   *copy = compiler_alloc(compiler, length + 1);

	if (copy != NULL)
		memcpy(copy, text, length + 1);
	return copy;
}

/*
 * fail
 *		Records the first error: the current path, the message, what the
 *		path holds and a hint. Later errors are dropped.
 */
static void
fail(Compiler *compiler, const cJSON *found, const char *hint,
	 const char *format,...)
{
	va_list		args;
	RuleError  *error = compiler->error;

	if (compiler->failed)
		return;
	compiler->failed = true;

	snprintf(error->path, sizeof(error->path), "%s", compiler->path);
	va_start(args, format);
	vsnprintf(error->message, sizeof(error->message), format, args);
	va_end(args);
	if (found != NULL)
		describe_json(found, error->found, sizeof(error->found));
	else
		error->found[0] = '\0';
	snprintf(error->hint, sizeof(error->hint), "%s", hint != NULL ? hint : "");
}

static size_t
path_push_key(Compiler *compiler, const char *key)
{
	size_t		saved = compiler->path_length;
	int			written;

	written = snprintf(compiler->path + saved, sizeof(compiler->path) - saved,
					   ".%s", key);
	if (written > 0)
		compiler->path_length = strlen(compiler->path);
	return saved;
}

static size_t
path_push_index(Compiler *compiler, int index)
{
	size_t		saved = compiler->path_length;
	int			written;

	written = snprintf(compiler->path + saved, sizeof(compiler->path) - saved,
					   "[%d]", index);
	if (written > 0)
		compiler->path_length = strlen(compiler->path);
	return saved;
}

static void
path_pop(Compiler *compiler, size_t length)
{
	compiler->path_length = length;
	compiler->path[length] = '\0';
}

/*
 * describe_json
 *		Writes a short description of a JSON value: its type and, for a
 *		scalar or a short value, the value itself, cut at 80 bytes.
 */
static void
describe_json(const cJSON *item, char *buffer, size_t size)
{
	char	   *printed;
	const char *type;

	if (cJSON_IsNull(item))
	{
		snprintf(buffer, size, "null");
		return;
	}
	if (cJSON_IsObject(item))
		type = "object";
	else if (cJSON_IsArray(item))
		type = "array";
	else if (cJSON_IsString(item))
		type = "string";
	else if (cJSON_IsNumber(item))
		type = "number";
	else if (cJSON_IsBool(item))
		type = "boolean";
	else
		type = "value";

	printed = cJSON_PrintUnformatted(item);
	if (printed == NULL)
	{
		snprintf(buffer, size, "%s", type);
		return;
	}
	if (strlen(printed) > 80)
	{
		int			cut = 77;

		/* Do not cut a UTF-8 sequence in two. */
		while (cut > 0 && (printed[cut] & 0xC0) == 0x80)
			cut--;
		snprintf(buffer, size, "%s %.*s...", type, cut, printed);
	}
	else
		snprintf(buffer, size, "%s %s", type, printed);
	cJSON_free(printed);
}

static void
list_names(char *buffer, size_t size, const char *intro,
		   const char *const *names, int count)
{
	size_t		used;

	snprintf(buffer, size, "%s", intro);
	for (int i = 0; i < count; i++)
	{
		used = strlen(buffer);
		snprintf(buffer + used, size - used, "%s%s", i == 0 ? "" : ", ",
				 names[i]);
	}
	used = strlen(buffer);
	snprintf(buffer + used, size - used, ".");
}

static void
event_names_hint(char *buffer, size_t size)
{
	const char *names[RULE_EVENT_COUNT];

	for (int i = 0; i < RULE_EVENT_COUNT; i++)
		names[i] = cs_rule_events[i].name;
	list_names(buffer, size, "Events are: ", names, RULE_EVENT_COUNT);
}

static void
operator_names_hint(char *buffer, size_t size)
{
	const char *names[RULE_OP_COUNT];

	for (int i = 0; i < RULE_OP_COUNT; i++)
		names[i] = cs_rule_operators[i].name;
	list_names(buffer, size, "Operators are: ", names, RULE_OP_COUNT);
}

static void
action_names_hint(char *buffer, size_t size)
{
	const char *names[RULE_ACTION_COUNT];

	for (int i = 0; i < RULE_ACTION_COUNT; i++)
		names[i] = cs_rule_actions[i].name;
	list_names(buffer, size, "Actions are: ", names, RULE_ACTION_COUNT);
}

/* The facts of an event, keyed facts shown as name.<key>. */
static void
fact_names_hint(RuleEvent event, char *buffer, size_t size)
{
	const char *names[RULE_FACT_COUNT];
	char		keyed[RULE_FACT_COUNT][48];
	int			count = 0;

	for (int i = 0; i < RULE_FACT_COUNT; i++)
	{
		if ((cs_rule_facts[i].events & RULE_EVENT_BIT(event)) == 0)
			continue;
		if (cs_rule_facts[i].keyed)
		{
			snprintf(keyed[i], sizeof(keyed[i]), "%s.<%s>",
					 cs_rule_facts[i].name,
					 i == RULE_FACT_ATTRIBUTE ? "key" : "kind");
			names[count++] = keyed[i];
		}
		else
			names[count++] = cs_rule_facts[i].name;
	}
	snprintf(buffer, size, "Facts of event %s are: ", cs_rule_events[event].name);
	list_names(buffer + strlen(buffer), size - strlen(buffer), "", names, count);
}

RuleProgram *
cs_rule_compile(const char *event_name, const char *condition_json,
				const char *actions_json, const RuleAllocator *allocator,
				const RuleChecks *checks, RuleError *error)
{
	Compiler	compiler;
	RuleProgram *program;
	cJSON	   *condition = NULL;
	cJSON	   *actions = NULL;
	int			event;
	static const RuleChecks no_checks = {NULL, NULL};

	memset(&compiler, 0, sizeof(compiler));
	memset(error, 0, sizeof(*error));
	compiler.allocator = allocator;
	compiler.checks = checks != NULL ? checks : &no_checks;
	compiler.error = error;
	strcpy(compiler.path, "$.event");
	compiler.path_length = strlen(compiler.path);

	event = event_name != NULL ? cs_rule_find_event(event_name) : -1;
	if (event < 0)
	{
		cJSON	   *found = cJSON_CreateString(event_name != NULL ? event_name : "");
		char		hint[RULE_ERROR_TEXT_SIZE];

		event_names_hint(hint, sizeof(hint));
		fail(&compiler, found, hint, "unknown event \"%s\"",
			 event_name != NULL ? event_name : "");
		cJSON_Delete(found);
		return NULL;
	}
	compiler.event = (RuleEvent) event;

	program = compiler_alloc(&compiler, sizeof(RuleProgram));
	if (program == NULL)
		return NULL;
	program->event = compiler.event;

	strcpy(compiler.path, "$.condition");
	compiler.path_length = strlen(compiler.path);
	if (json_nesting_depth(condition_json) > MAX_JSON_NESTING)
		fail(&compiler, NULL, "Flatten the condition: nest \"all\", \"any\" and \"not\" at most 32 deep.",
			 "condition is nested too deeply");
	else if ((condition = cJSON_Parse(condition_json != NULL ? condition_json : "")) == NULL)
		fail(&compiler, NULL, "Write the condition as a JSON object, such as {\"all\": []}.",
			 "condition is not valid JSON");
	else
		program->condition = compile_node(&compiler, condition, 1);

	if (!compiler.failed)
	{
		strcpy(compiler.path, "$.actions");
		compiler.path_length = strlen(compiler.path);
		if (json_nesting_depth(actions_json) > MAX_JSON_NESTING)
			fail(&compiler, NULL, "Keep action values, such as the value of set_attribute, under 100 levels of nesting.",
				 "actions are nested too deeply");
		else if ((actions = cJSON_Parse(actions_json != NULL ? actions_json : "")) == NULL)
			fail(&compiler, NULL, "Write the actions as a JSON array of objects.",
				 "actions are not valid JSON");
		else
			compile_actions(&compiler, actions, program);
	}

	cJSON_Delete(condition);
	cJSON_Delete(actions);

	if (compiler.failed)
		return NULL;

	program->fact_count = compiler.fact_count;
	program->facts = compiler.facts;
	program->cost = program->condition->cost;
	for (int i = 0; i < compiler.fact_count; i++)
	{
		int			cost = fact_cost(&compiler, compiler.facts[i].fact);

		if (cost > program->cost)
			program->cost = cost;
	}
	return program;
}

static RuleNode *
compile_node(Compiler *compiler, const cJSON *item, int depth)
{
	const cJSON *member;

	if (compiler->failed)
		return NULL;
	if (depth > MAX_CONDITION_DEPTH)
	{
		fail(compiler, NULL, "Flatten the condition: nest \"all\", \"any\" and \"not\" at most 32 deep.",
			 "condition is nested too deeply");
		return NULL;
	}
	if (++compiler->node_count > MAX_CONDITION_NODES)
	{
		fail(compiler, NULL, "Split the rule in two.",
			 "condition has more than %d parts", MAX_CONDITION_NODES);
		return NULL;
	}
	if (!cJSON_IsObject(item))
	{
		fail(compiler, item,
			 "A condition is {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"fact\": \"<fact>\", \"<operator>\": <value>}.",
			 "condition is not an object");
		return NULL;
	}

	member = item->child;
	if (member != NULL && member->next == NULL &&
		(strcmp(member->string, "all") == 0 ||
		 strcmp(member->string, "any") == 0 ||
		 strcmp(member->string, "not") == 0))
		return compile_group(compiler, item, member, depth);

	if (cJSON_GetObjectItemCaseSensitive(item, "fact") != NULL)
		return compile_comparison(compiler, item);

	fail(compiler, item,
		 "A condition is {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"fact\": \"<fact>\", \"<operator>\": <value>}.",
		 "condition has neither \"fact\" nor a single \"all\", \"any\" or \"not\"");
	return NULL;
}

static RuleNode *
compile_group(Compiler *compiler, const cJSON *object, const cJSON *member,
			  int depth)
{
	RuleNode   *node = compiler_alloc(compiler, sizeof(RuleNode));
	size_t		saved;

	if (node == NULL)
		return NULL;
	saved = path_push_key(compiler, member->string);

	if (strcmp(member->string, "not") == 0)
	{
		node->kind = RULE_NODE_NOT;
		node->child_count = 1;
		node->children = compiler_alloc(compiler, sizeof(RuleNode *));
		if (node->children == NULL)
			return NULL;
		node->children[0] = compile_node(compiler, member, depth + 1);
		if (compiler->failed)
			return NULL;
		node->cost = node->children[0]->cost;
		path_pop(compiler, saved);
		return node;
	}

	node->kind = strcmp(member->string, "all") == 0 ? RULE_NODE_ALL : RULE_NODE_ANY;
	if (!cJSON_IsArray(member))
	{
		fail(compiler, member, "List the conditions in an array, such as {\"all\": [{\"fact\": \"arr\", \"gt\": 0}]}.",
			 "\"%s\" needs an array of conditions", member->string);
		return NULL;
	}

	node->child_count = cJSON_GetArraySize(member);
	node->children = compiler_alloc(compiler,
									sizeof(RuleNode *) * (node->child_count + 1));
	if (node->children == NULL)
		return NULL;

	{
		int			index = 0;
		const cJSON *child;

		cJSON_ArrayForEach(child, member)
		{
			size_t		item_saved = path_push_index(compiler, index);

			node->children[index] = compile_node(compiler, child, depth + 1);
			if (compiler->failed)
				return NULL;
			if (node->children[index]->cost > node->cost)
				node->cost = node->children[index]->cost;
			path_pop(compiler, item_saved);
			index++;
		}
	}

	sort_children(node);
	path_pop(compiler, saved);
	(void) object;
	return node;
}

/*
 * sort_children
 *		Orders the children by cost, keeping the written order among equal
 *		costs, so that cheap tests decide first.
 */
static void
sort_children(RuleNode *node)
{
	for (int i = 1; i < node->child_count; i++)
	{
		RuleNode   *moving = node->children[i];
		int			j = i - 1;

		while (j >= 0 && node->children[j]->cost > moving->cost)
		{
			node->children[j + 1] = node->children[j];
			j--;
		}
		node->children[j + 1] = moving;
	}
}

static RuleNode *
compile_comparison(Compiler *compiler, const cJSON *object)
{
	RuleNode   *node = compiler_alloc(compiler, sizeof(RuleNode));
	const cJSON *fact_item = NULL;
	const cJSON *operator_item = NULL;
	const cJSON *member;
	size_t		saved;
	char		hint[RULE_ERROR_TEXT_SIZE];
	int			op = -1;

	if (node == NULL)
		return NULL;
	node->kind = RULE_NODE_COMPARE;

	cJSON_ArrayForEach(member, object)
	{
		if (strcmp(member->string, "fact") == 0)
		{
			if (fact_item != NULL)
			{
				saved = path_push_key(compiler, "fact");
				fail(compiler, member, "Name the fact once.", "\"fact\" appears twice");
				return NULL;
			}
			fact_item = member;
			continue;
		}

		op = -1;
		for (int i = 0; i < RULE_OP_COUNT; i++)
			if (strcmp(member->string, cs_rule_operators[i].name) == 0)
				op = i;
		saved = path_push_key(compiler, member->string);
		if (op < 0)
		{
			operator_names_hint(hint, sizeof(hint));
			fail(compiler, member, hint, "unknown operator \"%.60s\"", member->string);
			return NULL;
		}
		if (operator_item != NULL)
		{
			fail(compiler, member, "Combine comparisons with {\"all\": [...]}.",
				 "a comparison has more than one operator");
			return NULL;
		}
		path_pop(compiler, saved);
		operator_item = member;
	}

	saved = path_push_key(compiler, "fact");
	if (!resolve_fact(compiler, fact_item, &node->fact))
		return NULL;
	path_pop(compiler, saved);

	if (operator_item == NULL)
	{
		operator_names_hint(hint, sizeof(hint));
		fail(compiler, object, hint, "comparison of fact \"%s\" has no operator",
			 fact_item->valuestring);
		return NULL;
	}

	for (int i = 0; i < RULE_OP_COUNT; i++)
		if (strcmp(operator_item->string, cs_rule_operators[i].name) == 0)
			op = i;
	node->op = (RuleOperator) op;

	saved = path_push_key(compiler, operator_item->string);
	node->path = compiler_strdup(compiler, compiler->path);
	if (node->path == NULL)
		return NULL;

	if (cs_rule_operators[op].needs_previous)
	{
		if (!cs_rule_events[compiler->event].has_previous)
		{
			fail(compiler, operator_item,
				 "Change operators need an event with an old row: account_updated, usage_recorded or contract_changed.",
				 "operator \"%s\" compares an old row, and event %s has none",
				 operator_item->string, cs_rule_events[compiler->event].name);
			return NULL;
		}
		if (!cs_rule_facts[node->fact.fact].has_previous)
		{
			fail(compiler, operator_item,
				 "Change operators apply to columns of the changed row, such as segment, attributes.<key>, usage.active_users or contract.arr.",
				 "fact \"%s\" has no old value to compare with",
				 fact_item->valuestring);
			return NULL;
		}

		/*
		 * An account fact has an old value only when the account row is
		 * the changed row; usage and contract events see one account row.
		 */
		if (cs_rule_facts[node->fact.fact].source == RULE_SOURCE_ACCOUNT &&
			cs_rule_events[compiler->event].subject != RULE_SUBJECT_ACCOUNT)
		{
			fail(compiler, operator_item,
				 "Compare old and new account columns in an account_updated rule.",
				 "fact \"%s\" has no old value for event %s, whose changed row is not the account",
				 fact_item->valuestring, cs_rule_events[compiler->event].name);
			return NULL;
		}
	}

	if (!compile_operand(compiler, node, operator_item))
		return NULL;
	path_pop(compiler, saved);

	remember_fact(compiler, &node->fact);
	node->cost = fact_cost(compiler, node->fact.fact);
	return node;
}

/*
 * resolve_fact
 *		Finds the fact an item names, for the rule's event.
 */
static bool
resolve_fact(Compiler *compiler, const cJSON *item, RuleFactRef *ref)
{
	char		hint[RULE_ERROR_TEXT_SIZE * 2];
	const char *name;
	const char *dot;

	fact_names_hint(compiler->event, hint, sizeof(hint));
	if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
	{
		fail(compiler, item, hint, "\"fact\" must be a non-empty string");
		return false;
	}
	name = item->valuestring;
	memset(ref, 0, sizeof(*ref));

	for (int i = 0; i < RULE_FACT_COUNT; i++)
	{
		const RuleFactDef *def = &cs_rule_facts[i];
		size_t		length = strlen(def->name);

		if (def->keyed)
		{
			if (strncmp(name, def->name, length) != 0 || name[length] != '.')
				continue;
			dot = name + length;
			if (!check_key(compiler, item, dot + 1,
						   i == RULE_FACT_ATTRIBUTE ? "attribute key" : "alert kind"))
				return false;
			ref->key = compiler_strdup(compiler, dot + 1);
			if (ref->key == NULL)
				return false;
		}
		else if (strcmp(name, def->name) != 0)
			continue;

		if ((def->events & RULE_EVENT_BIT(compiler->event)) == 0)
		{
			fail(compiler, item, hint, "fact \"%.80s\" is not known for event %s",
				 name, cs_rule_events[compiler->event].name);
			return false;
		}
		ref->fact = (RuleFact) i;
		ref->type = def->type;
		return true;
	}

	fail(compiler, item, hint, "unknown fact \"%.80s\"", name);
	return false;
}

/*
 * check_key
 *		An attribute key or alert kind: 1 to 63 bytes of letters, digits,
 *		'_' and '-', so that it reads the same in JSON paths and messages.
 */
static bool
check_key(Compiler *compiler, const cJSON *item, const char *key,
		  const char *what)
{
	size_t		length = strlen(key);

	if (length == 0 || length > MAX_KEY_LENGTH)
	{
		fail(compiler, item, "Use 1 to 63 letters, digits, '_' or '-'.",
			 "%s must have 1 to 63 characters", what);
		return false;
	}
	for (size_t i = 0; i < length; i++)
	{
		char		c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-'))
		{
			fail(compiler, item, "Use 1 to 63 letters, digits, '_' or '-'.",
				 "%s \"%.63s\" has a character other than a letter, digit, '_' or '-'",
				 what, key);
			return false;
		}
	}
	return true;
}

static const char *
type_name(RuleValueType type)
{
	switch (type)
	{
		case RULE_TYPE_NUMBER:
			return "number";
		case RULE_TYPE_TEXT:
			return "string";
		case RULE_TYPE_BOOL:
			return "boolean";
		default:
			return "null";
	}
}

static RuleValueType
json_scalar_type(const cJSON *item)
{
	if (cJSON_IsNumber(item))
		return RULE_TYPE_NUMBER;
	if (cJSON_IsString(item))
		return RULE_TYPE_TEXT;
	if (cJSON_IsBool(item))
		return RULE_TYPE_BOOL;
	return RULE_TYPE_NULL;
}

/*
 * read_scalar
 *		Reads a number, string or boolean of the wanted type; wanted
 *		RULE_TYPE_NULL takes any of the three.
 */
static bool
read_scalar(Compiler *compiler, const cJSON *item, RuleValueType wanted,
			RuleValue *value)
{
	RuleValueType found = json_scalar_type(item);
	char		hint[RULE_ERROR_TEXT_SIZE];

	if (found == RULE_TYPE_NULL || (wanted != RULE_TYPE_NULL && found != wanted))
	{
		if (wanted == RULE_TYPE_NULL)
			snprintf(hint, sizeof(hint), "Compare with a number, a string or a boolean; use \"is_null\" for null.");
		else
			snprintf(hint, sizeof(hint), "This fact is a %s: compare it with a %s.",
					 type_name(wanted), type_name(wanted));
		fail(compiler, item, hint, "expected a %s",
			 wanted == RULE_TYPE_NULL ? "number, string or boolean" : type_name(wanted));
		return false;
	}

	value->type = found;
	if (found == RULE_TYPE_NUMBER)
	{
		if (!isfinite(item->valuedouble))
		{
			fail(compiler, NULL, "Use a number between -1e308 and 1e308.", "number is out of range");
			return false;
		}
		value->number = item->valuedouble;
	}
	else if (found == RULE_TYPE_TEXT)
	{
		if (strlen(item->valuestring) > MAX_TEXT_LENGTH)
		{
			fail(compiler, item, "Use a string of at most 4000 bytes.", "string is too long");
			return false;
		}
		value->text = compiler_strdup(compiler, item->valuestring);
		if (value->text == NULL)
			return false;
	}
	else
		value->boolean = cJSON_IsTrue(item);
	return true;
}

/*
 * compile_operand
 *		Checks the operand of a comparison against its operator and the
 *		fact's type. A fact typed by use (attributes.<key>) takes the type
 *		of the operand.
 */
static bool
compile_operand(Compiler *compiler, RuleNode *node, const cJSON *operand)
{
	RuleValueType fact_type = node->fact.type;
	RuleOperator op = node->op;

	switch (op)
	{
		case RULE_OP_EQ:
		case RULE_OP_NE:
		case RULE_OP_LT:
		case RULE_OP_LE:
		case RULE_OP_GT:
		case RULE_OP_GE:
			node->operand_count = 1;
			node->operands = compiler_alloc(compiler, sizeof(RuleValue));
			if (node->operands == NULL ||
				!read_scalar(compiler, operand, fact_type, &node->operands[0]))
				return false;
			if (node->operands[0].type == RULE_TYPE_BOOL && op != RULE_OP_EQ && op != RULE_OP_NE)
			{
				fail(compiler, operand, "Compare booleans with \"eq\" or \"ne\".",
					 "operator \"%s\" does not order booleans", cs_rule_operators[op].name);
				return false;
			}
			node->fact.type = node->operands[0].type;
			return true;

		case RULE_OP_IN:
			{
				int			count = cJSON_GetArraySize(operand);
				const cJSON *element;
				int			index = 0;

				if (!cJSON_IsArray(operand) || count == 0 || count > MAX_LIST_ITEMS)
				{
					fail(compiler, operand, "Give a list of 1 to 1000 values, such as [\"smb\", \"mid\"].",
						 "\"in\" needs a non-empty array of values");
					return false;
				}
				node->operand_count = count;
				node->operands = compiler_alloc(compiler, sizeof(RuleValue) * count);
				if (node->operands == NULL)
					return false;
				cJSON_ArrayForEach(element, operand)
				{
					size_t		saved = path_push_index(compiler, index);

					if (!read_scalar(compiler, element, fact_type, &node->operands[index]))
						return false;
					fact_type = node->operands[index].type;
					path_pop(compiler, saved);
					index++;
				}
				node->fact.type = fact_type;
				return true;
			}

		case RULE_OP_BETWEEN:
			{
				const cJSON *low = cJSON_GetArrayItem(operand, 0);
				const cJSON *high = cJSON_GetArrayItem(operand, 1);

				if (!cJSON_IsArray(operand) || cJSON_GetArraySize(operand) != 2)
				{
					fail(compiler, operand, "Give [low, high], such as [10, 20].",
						 "\"between\" needs an array of two values");
					return false;
				}
				node->operand_count = 2;
				node->operands = compiler_alloc(compiler, sizeof(RuleValue) * 2);
				if (node->operands == NULL ||
					!read_scalar(compiler, low, fact_type, &node->operands[0]) ||
					!read_scalar(compiler, high, node->operands[0].type, &node->operands[1]))
					return false;
				if (node->operands[0].type == RULE_TYPE_BOOL)
				{
					fail(compiler, operand, "Give two numbers or two strings.",
						 "\"between\" does not order booleans");
					return false;
				}
				if ((node->operands[0].type == RULE_TYPE_NUMBER &&
					 node->operands[0].number > node->operands[1].number) ||
					(node->operands[0].type == RULE_TYPE_TEXT &&
					 strcmp(node->operands[0].text, node->operands[1].text) > 0))
				{
					fail(compiler, operand, "Put the lower bound first.",
						 "\"between\" has its low bound above its high bound");
					return false;
				}
				node->fact.type = node->operands[0].type;
				return true;
			}

		case RULE_OP_IS_NULL:
		case RULE_OP_CHANGED:
			if (!cJSON_IsBool(operand))
			{
				fail(compiler, operand, "Write true or false.",
					 "\"%s\" needs a boolean", cs_rule_operators[op].name);
				return false;
			}
			node->expect_null = cJSON_IsTrue(operand);
			return true;

		case RULE_OP_MATCHES:
			{
				const char *problem;

				if (fact_type != RULE_TYPE_TEXT && fact_type != RULE_TYPE_NULL)
				{
					fail(compiler, operand, "Use \"matches\" on a text fact.",
						 "fact is a %s, and \"matches\" needs text", type_name(fact_type));
					return false;
				}
				node->operand_count = 1;
				node->operands = compiler_alloc(compiler, sizeof(RuleValue));
				if (node->operands == NULL ||
					!read_scalar(compiler, operand, RULE_TYPE_TEXT, &node->operands[0]))
					return false;
				if (compiler->checks->check_pattern != NULL &&
					(problem = compiler->checks->check_pattern(compiler->checks->state,
															   node->operands[0].text)) != NULL)
				{
					fail(compiler, operand, "Write a POSIX regular expression, such as \"^acme\".",
						 "invalid regular expression: %s", problem);
					return false;
				}
				node->fact.type = RULE_TYPE_TEXT;
				return true;
			}

		case RULE_OP_INCREASED_BY:
		case RULE_OP_DECREASED_BY:
			{
				const cJSON *amount = operand;

				if (fact_type != RULE_TYPE_NUMBER && fact_type != RULE_TYPE_NULL)
				{
					fail(compiler, operand, "Use change amounts on a number fact.",
						 "fact is a %s, and \"%s\" needs a number",
						 type_name(fact_type), cs_rule_operators[op].name);
					return false;
				}
				if (cJSON_IsObject(operand))
				{
					amount = cJSON_GetObjectItemCaseSensitive(operand, "percent");
					if (amount == NULL || operand->child->next != NULL)
					{
						fail(compiler, operand, "Write a number, or {\"percent\": 20}.",
							 "\"%s\" takes a number or an object with only \"percent\"",
							 cs_rule_operators[op].name);
						return false;
					}
					node->percent = true;
				}
				node->operand_count = 1;
				node->operands = compiler_alloc(compiler, sizeof(RuleValue));
				if (node->operands == NULL ||
					!read_scalar(compiler, amount, RULE_TYPE_NUMBER, &node->operands[0]))
					return false;
				if (node->operands[0].number <= 0)
				{
					fail(compiler, amount, "Give an amount above zero; the operator says the direction.",
						 "\"%s\" needs an amount above zero", cs_rule_operators[op].name);
					return false;
				}
				if (node->percent && op == RULE_OP_DECREASED_BY &&
					node->operands[0].number > 100)
				{
					fail(compiler, amount, "A value that stays at or above zero falls by at most 100 percent.",
						 "\"decreased_by\" more than 100 percent never holds");
					return false;
				}
				node->fact.type = RULE_TYPE_NUMBER;
				return true;
			}

		case RULE_OP_CROSSED_BELOW:
		case RULE_OP_CROSSED_ABOVE:
			if (fact_type != RULE_TYPE_NUMBER && fact_type != RULE_TYPE_NULL)
			{
				fail(compiler, operand, "Use crossing operators on a number fact.",
					 "fact is a %s, and \"%s\" needs a number",
					 type_name(fact_type), cs_rule_operators[op].name);
				return false;
			}
			node->operand_count = 1;
			node->operands = compiler_alloc(compiler, sizeof(RuleValue));
			if (node->operands == NULL ||
				!read_scalar(compiler, operand, RULE_TYPE_NUMBER, &node->operands[0]))
				return false;
			node->fact.type = RULE_TYPE_NUMBER;
			return true;

		case RULE_OP_COUNT:
			break;
	}
	return false;
}

/*
 * remember_fact
 *		Adds a fact to the rule's list of facts read, once per fact and key.
 */
static void
remember_fact(Compiler *compiler, const RuleFactRef *ref)
{
	for (int i = 0; i < compiler->fact_count; i++)
	{
		RuleFactRef *known = &compiler->facts[i];

		if (known->fact == ref->fact &&
			((known->key == NULL && ref->key == NULL) ||
			 (known->key != NULL && ref->key != NULL && strcmp(known->key, ref->key) == 0)))
			return;
	}

	if (compiler->fact_count == compiler->fact_capacity)
	{
		int			capacity = compiler->fact_capacity == 0 ? 8 : compiler->fact_capacity * 2;
		RuleFactRef *facts = compiler_alloc(compiler, sizeof(RuleFactRef) * capacity);

		if (facts == NULL)
			return;
		if (compiler->fact_count > 0)
			memcpy(facts, compiler->facts, sizeof(RuleFactRef) * compiler->fact_count);
		compiler->facts = facts;
		compiler->fact_capacity = capacity;
	}

	compiler->facts[compiler->fact_count] = *ref;
	/* A keyed attribute is recorded as the JSON value it holds. */
	if (ref->fact == RULE_FACT_ATTRIBUTE)
		compiler->facts[compiler->fact_count].type = RULE_TYPE_NULL;
	compiler->fact_count++;
}

static int
fact_cost(Compiler *compiler, RuleFact fact)
{
	RuleFactSource source = cs_rule_facts[fact].source;

	if (source == RULE_SOURCE_ACCOUNT &&
		cs_rule_events[compiler->event].subject == RULE_SUBJECT_ACCOUNT)
		return RULE_SOURCE_EVENT;
	return source;
}

static bool
compile_actions(Compiler *compiler, const cJSON *list, RuleProgram *program)
{
	int			count;
	int			index = 0;
	const cJSON *element;
	char		hint[RULE_ERROR_TEXT_SIZE];

	action_names_hint(hint, sizeof(hint));
	if (!cJSON_IsArray(list))
	{
		fail(compiler, list, hint, "actions must be an array of objects");
		return false;
	}
	count = cJSON_GetArraySize(list);
	if (count == 0 || count > MAX_ACTIONS)
	{
		fail(compiler, list, hint, "a rule needs 1 to %d actions", MAX_ACTIONS);
		return false;
	}

	program->action_count = count;
	program->actions = compiler_alloc(compiler, sizeof(RuleAction) * count);
	if (program->actions == NULL)
		return false;

	cJSON_ArrayForEach(element, list)
	{
		size_t		saved = path_push_index(compiler, index);

		if (!compile_action(compiler, element, &program->actions[index]))
			return false;
		path_pop(compiler, saved);
		index++;
	}
	return true;
}

static bool
compile_action(Compiler *compiler, const cJSON *object, RuleAction *action)
{
	const cJSON *name_item;
	const cJSON *member;
	const RuleActionDef *def = NULL;
	char		hint[RULE_ERROR_TEXT_SIZE];
	size_t		saved;

	action_names_hint(hint, sizeof(hint));
	if (!cJSON_IsObject(object))
	{
		fail(compiler, object, hint, "an action must be an object such as {\"action\": \"raise_alert\", ...}");
		return false;
	}

	saved = path_push_key(compiler, "action");
	name_item = cJSON_GetObjectItemCaseSensitive(object, "action");
	if (!cJSON_IsString(name_item))
	{
		fail(compiler, name_item != NULL ? name_item : object, hint,
			 "an action needs \"action\" with the action's name");
		return false;
	}
	for (int i = 0; i < RULE_ACTION_COUNT; i++)
	{
		if (strcmp(name_item->valuestring, cs_rule_actions[i].name) == 0)
		{
			def = &cs_rule_actions[i];
			action->kind = (RuleActionKind) i;
		}
	}
	if (def == NULL)
	{
		fail(compiler, name_item, hint, "unknown action \"%.80s\"", name_item->valuestring);
		return false;
	}
	path_pop(compiler, saved);
	action->path = compiler_strdup(compiler, compiler->path);
	if (action->path == NULL)
		return false;

	/* Every member is "action" or a parameter of this action. */
	cJSON_ArrayForEach(member, object)
	{
		bool		known = strcmp(member->string, "action") == 0;

		for (int p = 0; p < def->param_count && !known; p++)
			known = strcmp(member->string, def->params[p].name) == 0;
		if (!known)
		{
			const char *names[RULE_ACTION_MAX_PARAMS];

			for (int p = 0; p < def->param_count; p++)
				names[p] = def->params[p].name;
			snprintf(hint, sizeof(hint), "Parameters of %s are: ", def->name);
			list_names(hint + strlen(hint), sizeof(hint) - strlen(hint), "",
					   names, def->param_count);
			saved = path_push_key(compiler, member->string);
			fail(compiler, member, hint, "unknown parameter \"%.60s\" of action %s",
				 member->string, def->name);
			return false;
		}
	}

	for (int p = 0; p < def->param_count; p++)
	{
		const RuleParamDef *param = &def->params[p];
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(object, param->name);

		saved = path_push_key(compiler, param->name);
		if (value == NULL)
		{
			if (param->required)
			{
				fail(compiler, object, NULL, "action %s needs \"%s\"", def->name, param->name);
				snprintf(compiler->error->hint, sizeof(compiler->error->hint),
						 "Add \"%s\" to the action.", param->name);
				return false;
			}
			action->params[p] = param->default_value;
			path_pop(compiler, saved);
			continue;
		}

		if (param->type == RULE_PARAM_JSON)
		{
			char	   *printed = cJSON_PrintUnformatted(value);

			if (printed == NULL)
			{
				fail(compiler, value, NULL, "out of memory while compiling the rule");
				return false;
			}
			action->params[p] = compiler_strdup(compiler, printed);
			cJSON_free(printed);
			if (action->params[p] == NULL)
				return false;
			path_pop(compiler, saved);
			continue;
		}

		if (!cJSON_IsString(value) || value->valuestring[0] == '\0')
		{
			fail(compiler, value, "Write a non-empty string.",
				 "\"%s\" of action %s must be a non-empty string", param->name, def->name);
			return false;
		}
		if (strlen(value->valuestring) > MAX_TEXT_LENGTH)
		{
			fail(compiler, value, "Shorten it to at most 4000 bytes.",
				 "\"%s\" of action %s is longer than 4000 bytes", param->name, def->name);
			return false;
		}
		if (param->allowed != NULL)
		{
			bool		allowed = false;
			int			count = 0;

			for (count = 0; param->allowed[count] != NULL; count++)
				allowed = allowed || strcmp(param->allowed[count], value->valuestring) == 0;
			if (!allowed)
			{
				snprintf(hint, sizeof(hint), "Values of %s are: ", param->name);
				list_names(hint + strlen(hint), sizeof(hint) - strlen(hint), "",
						   param->allowed, count);
				fail(compiler, value, hint, "unknown value \"%.60s\" for \"%s\" of action %s",
					 value->valuestring, param->name, def->name);
				return false;
			}
		}
		if (param->type == RULE_PARAM_MESSAGE &&
			!check_message(compiler, value, value->valuestring))
			return false;
		if ((action->kind == RULE_ACTION_RAISE_ALERT && p == 0) ||
			(action->kind == RULE_ACTION_SET_ATTRIBUTE && p == 0))
		{
			if (!check_key(compiler, value, value->valuestring,
						   p == 0 && action->kind == RULE_ACTION_RAISE_ALERT ?
						   "alert kind" : "attribute key"))
				return false;
		}
		action->params[p] = compiler_strdup(compiler, value->valuestring);
		if (action->params[p] == NULL)
			return false;
		path_pop(compiler, saved);
	}
	return true;
}

/*
 * check_message
 *		A message may name facts of the event as {{fact}}; each named fact
 *		is added to the facts the rule reads, so that the firing records it.
 */
static bool
check_message(Compiler *compiler, const cJSON *item, const char *text)
{
	const char *cursor = text;

	while ((cursor = strstr(cursor, "{{")) != NULL)
	{
		const char *end = strstr(cursor + 2, "}}");
		const char *start = cursor + 2;
		char		name[RULE_ERROR_TEXT_SIZE];
		size_t		length;
		cJSON	   *name_item;
		RuleFactRef ref;
		bool		found;

		if (end == NULL)
		{
			fail(compiler, item, "Close each merge field with }}, as in {{arr}}.",
				 "merge field at byte %d is not closed", (int) (cursor - text) + 1);
			return false;
		}
		while (start < end && *start == ' ')
			start++;
		length = (size_t) (end - start);
		while (length > 0 && start[length - 1] == ' ')
			length--;
		if (length == 0 || length >= sizeof(name))
		{
			fail(compiler, item, "Name a fact between the braces, as in {{arr}}.",
				 "merge field at byte %d names no fact", (int) (cursor - text) + 1);
			return false;
		}
		memcpy(name, start, length);
		name[length] = '\0';

		name_item = cJSON_CreateString(name);
		if (name_item == NULL)
		{
			fail(compiler, item, NULL, "out of memory while compiling the rule");
			return false;
		}
		found = resolve_fact(compiler, name_item, &ref);
		cJSON_Delete(name_item);
		if (!found)
			return false;
		remember_fact(compiler, &ref);
		cursor = end + 2;
	}
	return true;
}
