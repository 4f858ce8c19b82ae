/*-------------------------------------------------------------------------
 *
 * rule_eval.c
 *	  Evaluation of a compiled condition for one event occurrence, and the
 *	  merge fields of alert messages.
 *
 * Logic is two-valued: a comparison with a fact that has no value is
 * false, "ne" included, and "not" inverts that. The set-based SQL of
 * cs.preview_rule wraps every comparison in coalesce(..., false) so that
 * it decides the same way. Text compares byte by byte, as COLLATE "C".
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_eval.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "catalog/pg_collation.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

static inline int
compare_values(const RuleValue *left, const RuleValue *right)
{
	if (left->type == RULE_TYPE_NUMBER)
	{
		if (left->number < right->number)
			return -1;
		if (left->number > right->number)
			return 1;
		return 0;
	}
	if (left->type == RULE_TYPE_TEXT)
	{
		int			result = strcmp(left->text, right->text);

		if (result < 0)
			return -1;
		if (result > 0)
			return 1;
		return 0;
	}
	return (int) left->boolean - (int) right->boolean;
}

static inline bool
values_equal(const RuleValue *left, const RuleValue *right)
{
	if (left->type != right->type)
		return false;
	return compare_values(left, right) == 0;
}

/*
 * cs_rule_text_matches
 *		POSIX regular expression match in the C collation, through the
 *		server's regex cache.
 */
bool
cs_rule_text_matches(const char *text, const char *pattern)
{
	return DatumGetBool(DirectFunctionCall2Coll(textregexeq, C_COLLATION_OID,
												CStringGetTextDatum(text),
												CStringGetTextDatum(pattern)));
}

/*
 * compare
 *		A comparison node: the fact's value against the operand.
 */
static bool
compare(CsRuleEvent *event, const RuleNode *node)
{
	const RuleValue *known = cs_rule_known_fact(event, &node->fact);
	RuleValue	value = known != NULL ? *known : cs_rule_fact_value(event, &node->fact, false);
	RuleValue	old;

	switch (node->op)
	{
		case RULE_OP_IS_NULL:
			return (value.type == RULE_TYPE_NULL) == node->expect_null;

		case RULE_OP_CHANGED:
			old = cs_rule_fact_value(event, &node->fact, true);
			{
				bool		differs;

				if (value.type == RULE_TYPE_NULL || old.type == RULE_TYPE_NULL)
					differs = value.type != old.type;
				else
					differs = !values_equal(&value, &old);
				return differs == node->expect_null;
			}

		default:
			break;
	}

	if (value.type == RULE_TYPE_NULL)
		return false;

	switch (node->op)
	{
		case RULE_OP_EQ:
			return values_equal(&value, &node->operands[0]);
		case RULE_OP_NE:
			return !values_equal(&value, &node->operands[0]);
		case RULE_OP_LT:
			return compare_values(&value, &node->operands[0]) < 0;
		case RULE_OP_LE:
			return compare_values(&value, &node->operands[0]) <= 0;
		case RULE_OP_GT:
			return compare_values(&value, &node->operands[0]) > 0;
		case RULE_OP_GE:
			return compare_values(&value, &node->operands[0]) >= 0;
		case RULE_OP_IN:
			for (int i = 0; i < node->operand_count; i++)
				if (values_equal(&value, &node->operands[i]))
					return true;
			return false;
		case RULE_OP_BETWEEN:
			return compare_values(&value, &node->operands[0]) >= 0 &&
				compare_values(&value, &node->operands[1]) <= 0;
		case RULE_OP_MATCHES:
			return cs_rule_text_matches(value.text, node->operands[0].text);
		case RULE_OP_INCREASED_BY:
		case RULE_OP_DECREASED_BY:
			{
				double		change;

				old = cs_rule_fact_value(event, &node->fact, true);
				if (old.type != RULE_TYPE_NUMBER)
					return false;
				change = node->op == RULE_OP_INCREASED_BY ?
					value.number - old.number : old.number - value.number;
				if (node->percent)
				{
					if (old.number <= 0)
						return false;
					return change / old.number * 100.0 >= node->operands[0].number;
				}
				return change >= node->operands[0].number;
			}
		case RULE_OP_CROSSED_BELOW:
			old = cs_rule_fact_value(event, &node->fact, true);
			return old.type == RULE_TYPE_NUMBER &&
				old.number >= node->operands[0].number &&
				value.number < node->operands[0].number;
		case RULE_OP_CROSSED_ABOVE:
			old = cs_rule_fact_value(event, &node->fact, true);
			return old.type == RULE_TYPE_NUMBER &&
				old.number <= node->operands[0].number &&
				value.number > node->operands[0].number;
		default:
			return false;
	}
}

bool
cs_rule_condition_holds(CsRuleEvent *event, const RuleNode *node)
{
	switch (node->kind)
	{
		case RULE_NODE_ALL:
			for (int i = 0; i < node->child_count; i++)
				if (!cs_rule_condition_holds(event, node->children[i]))
					return false;
			return true;
		case RULE_NODE_ANY:
			for (int i = 0; i < node->child_count; i++)
				if (cs_rule_condition_holds(event, node->children[i]))
					return true;
			return false;
		case RULE_NODE_NOT:
			return !cs_rule_condition_holds(event, node->children[0]);
		case RULE_NODE_COMPARE:
			return compare(event, node);
	}
	return false;
}

/*
 * cs_rule_render_message
 *		Replaces each {{fact}} of a message with the fact's value from the
 *		facts the rule saw: text as is, numbers and booleans as JSON writes
 *		them, and an empty string for a fact without value. The compiler
 *		has checked that every merge field names a fact of the rule. The
 *		result is cut at RULE_MESSAGE_MAX_BYTES, on a character boundary,
 *		so that long fact values cannot make a message of any size.
 */
char *
cs_rule_render_message(const char *message, Jsonb *facts)
{
	StringInfoData output;
	const char *cursor = message;
	const char *open;

	initStringInfo(&output);
	while ((open = strstr(cursor, "{{")) != NULL && output.len <= RULE_MESSAGE_MAX_BYTES)
	{
		const char *close = strstr(open + 2, "}}");
		const char *start = open + 2;
		size_t		length;
		JsonbValue *value;

		if (close == NULL)
			break;
		appendBinaryStringInfo(&output, cursor, open - cursor);
		while (start < close && *start == ' ')
			start++;
		length = close - start;
		while (length > 0 && start[length - 1] == ' ')
			length--;

		value = getKeyJsonValueFromContainer(&facts->root, start, length, NULL);
		if (value != NULL && value->type == jbvString)
			appendBinaryStringInfo(&output, value->val.string.val, value->val.string.len);
		else if (value != NULL && value->type != jbvNull)
			appendStringInfoString(&output,
								   JsonbToCString(NULL, &JsonbValueToJsonb(value)->root, 0));
		cursor = close + 2;
	}
	if (output.len <= RULE_MESSAGE_MAX_BYTES)
		appendStringInfoString(&output, cursor);
	if (output.len > RULE_MESSAGE_MAX_BYTES)
		output.data[pg_mbcliplen(output.data, output.len, RULE_MESSAGE_MAX_BYTES)] = '\0';
	return output.data;
}
