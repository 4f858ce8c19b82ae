/*-------------------------------------------------------------------------
 *
 * rule_compile_fuzz.c
 *	  libFuzzer harness for cs_rule_compile (src/rule_parser.c).
 *
 * Input format: the input is cut at its first NUL byte, and the text before
 * it is split at its first two newlines into the event name, the condition
 * JSON and the actions JSON. The actions part runs to the end of the text,
 * newlines included. With fewer than two newlines, the missing parts are
 * passed as NULL. A seed file is therefore three lines:
 *
 *		account_updated
 *		{"fact": "segment", "eq": "smb"}
 *		[{"action": "move_phase", "phase": "onboarding"}]
 *
 * Each part is copied into a buffer of exactly its length plus the NUL, so
 * AddressSanitizer reports any read past the terminator. The allocator gives
 * every allocation its own heap block (zeroed) and frees all of them after
 * the input.
 *
 * A compiled program is walked in full, and its invariants are checked.
 * A rejected rule must leave a path that starts with "$.", a non-empty
 * message and NUL-terminated strings in every RuleError buffer. Any broken
 * check prints what failed and calls abort(), which libFuzzer records as a
 * crash.
 *
 * Every input that compiles is compiled once more with an allocator that
 * returns NULL from one allocation on, chosen from a hash of the input, so
 * the out-of-memory paths run as well. That compilation must fail with an
 * out-of-memory error.
 *
 * Build and run with test/fuzz/run.sh.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * test/fuzz/rule_compile_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One allocation of the arena, with its own heap block. */
typedef struct ArenaBlock
{
	struct ArenaBlock *next;
	/* the caller's memory follows, aligned for any type */
	max_align_t data[];
} ArenaBlock;

typedef struct Arena
{
	ArenaBlock *blocks;
	long		allocation_count;
	long		fail_at;		/* first allocation (from 1) to return NULL,
								 * or 0 for none */
	bool		failed;			/* an allocation returned NULL */
} Arena;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_failed(const char *what)
{
	fprintf(stderr, "rule_compile_fuzz: check failed: %s\n", what);
	abort();
}

#define CHECK(condition) \
	do { \
		if (!(condition)) \
			check_failed(#condition); \
	} while (0)

/*
 * arena_alloc
 *		RuleAllocator.alloc: zeroed memory that arena_free releases, or NULL
 *		from allocation fail_at on.
 */
static void *
arena_alloc(void *state, size_t size)
{
	Arena	   *arena = state;
	ArenaBlock *block;

	arena->allocation_count++;
	if (arena->fail_at != 0 && arena->allocation_count >= arena->fail_at)
	{
		arena->failed = true;
		return NULL;
	}

	block = calloc(1, sizeof(ArenaBlock) + size);
	if (block == NULL)
	{
		arena->failed = true;
		return NULL;
	}
	block->next = arena->blocks;
	arena->blocks = block;
	return block->data;
}

static void
arena_free(Arena *arena)
{
	while (arena->blocks != NULL)
	{
		ArenaBlock *next = arena->blocks->next;

		free(arena->blocks);
		arena->blocks = next;
	}
}

/*
 * RuleChecks.check_pattern: accepts every pattern, because only the server
 * can compile a POSIX regular expression.
 */
static const char *
accept_pattern(void *state, const char *pattern)
{
	(void) state;
	CHECK(pattern != NULL);
	CHECK(strlen(pattern) <= 4000);
	return NULL;
}

/* Copies size bytes into a new buffer of size + 1 bytes, NUL-terminated. */
static char *
copy_part(const uint8_t *start, size_t size)
{
	char	   *copy = malloc(size + 1);

	if (copy == NULL)
		abort();
	memcpy(copy, start, size);
	copy[size] = '\0';
	return copy;
}

static bool
is_terminated(const char *buffer, size_t size)
{
	return memchr(buffer, '\0', size) != NULL;
}

static void
check_text(const char *text)
{
	CHECK(text != NULL);
	/* strlen reads every byte, so ASan checks the whole string. */
	(void) strlen(text);
}

static void
check_fact_ref(const RuleFactRef *ref)
{
	char		label[128];

	CHECK(ref->fact >= 0);
	CHECK(ref->fact < RULE_FACT_COUNT);
	CHECK(ref->type >= RULE_TYPE_NULL);
	CHECK(ref->type <= RULE_TYPE_BOOL);
	if (cs_rule_facts[ref->fact].keyed)
	{
		check_text(ref->key);
		CHECK(ref->key[0] != '\0');
	}
	else
		CHECK(ref->key == NULL);

	cs_rule_fact_label(ref, label, sizeof(label));
	CHECK(is_terminated(label, sizeof(label)));
	CHECK(label[0] != '\0');
}

static void
check_value(const RuleValue *value)
{
	switch (value->type)
	{
		case RULE_TYPE_NUMBER:
			CHECK(value->number == value->number);	/* not NaN */
			break;
		case RULE_TYPE_TEXT:
			check_text(value->text);
			break;
		case RULE_TYPE_BOOL:
			break;
		default:
			check_failed("operand has no type");
	}
}

/*
 * check_comparison
 *		Checks a comparison node: the fact, the operator and the number and
 *		types of its operands.
 */
static void
check_comparison(const RuleProgram *program, const RuleNode *node)
{
	const RuleFactDef *fact_def;

	CHECK(node->child_count == 0);
	CHECK(node->children == NULL);
	check_fact_ref(&node->fact);
	fact_def = &cs_rule_facts[node->fact.fact];
	CHECK((fact_def->events & RULE_EVENT_BIT(program->event)) != 0);
	CHECK(node->op >= 0);
	CHECK(node->op < RULE_OP_COUNT);
	CHECK(node->cost >= RULE_SOURCE_EVENT);
	CHECK(node->cost <= (int) fact_def->source);

	check_text(node->path);
	CHECK(strncmp(node->path, "$.condition", 11) == 0);

	if (cs_rule_operators[node->op].needs_previous)
	{
		CHECK(cs_rule_events[program->event].has_previous);
		CHECK(fact_def->has_previous);
	}

	switch (node->op)
	{
		case RULE_OP_IS_NULL:
		case RULE_OP_CHANGED:
			CHECK(node->operand_count == 0);
			CHECK(node->operands == NULL);
			return;
		case RULE_OP_IN:
			CHECK(node->operand_count >= 1);
			CHECK(node->operand_count <= 1000);
			break;
		case RULE_OP_BETWEEN:
			CHECK(node->operand_count == 2);
			break;
		default:
			CHECK(node->operand_count == 1);
			break;
	}

	CHECK(node->operands != NULL);
	for (int i = 0; i < node->operand_count; i++)
	{
		check_value(&node->operands[i]);
		/* Every operand has the type the rule reads the fact as. */
		CHECK(node->operands[i].type == node->fact.type);
	}
	if (fact_def->type != RULE_TYPE_NULL)
		CHECK(node->fact.type == fact_def->type);
	if (node->percent)
		CHECK(node->op == RULE_OP_INCREASED_BY || node->op == RULE_OP_DECREASED_BY);
}

/*
 * check_node
 *		Walks a condition tree. A group's cost is the highest cost below it,
 *		and the children of all and any are in order of cost.
 */
static void
check_node(const RuleProgram *program, const RuleNode *node, int depth)
{
	int			highest = RULE_SOURCE_EVENT;

	CHECK(node != NULL);
	CHECK(depth <= 32);
	if (node->kind == RULE_NODE_COMPARE)
	{
		check_comparison(program, node);
		return;
	}

	CHECK(node->kind == RULE_NODE_ALL || node->kind == RULE_NODE_ANY ||
		  node->kind == RULE_NODE_NOT);
	CHECK(node->child_count >= 0);
	if (node->kind == RULE_NODE_NOT)
		CHECK(node->child_count == 1);
	CHECK(node->children != NULL);
	CHECK(node->operand_count == 0);
	CHECK(node->operands == NULL);

	for (int i = 0; i < node->child_count; i++)
	{
		const RuleNode *child = node->children[i];

		check_node(program, child, depth + 1);
		if (i > 0)
			CHECK(node->children[i - 1]->cost <= child->cost);
		if (child->cost > highest)
			highest = child->cost;
	}
	CHECK(node->cost == highest);
}

static void
check_action(const RuleAction *action)
{
	const RuleActionDef *def;

	CHECK(action->kind >= 0);
	CHECK(action->kind < RULE_ACTION_COUNT);
	def = &cs_rule_actions[action->kind];
	check_text(action->path);
	CHECK(strncmp(action->path, "$.actions[", 10) == 0);

	for (int p = 0; p < RULE_ACTION_MAX_PARAMS; p++)
	{
		const RuleParamDef *param = &def->params[p];

		if (p >= def->param_count)
		{
			CHECK(action->params[p] == NULL);
			continue;
		}
		check_text(action->params[p]);
		if (param->type != RULE_PARAM_JSON)
			CHECK(action->params[p][0] != '\0');
		if (param->allowed != NULL)
		{
			bool		allowed = false;

			for (int i = 0; param->allowed[i] != NULL; i++)
				allowed = allowed || strcmp(param->allowed[i], action->params[p]) == 0;
			CHECK(allowed);
		}
	}
}

/*
 * check_program
 *		Walks a compiled rule: the condition tree, every action and every
 *		fact the rule reads.
 */
static void
check_program(const RuleProgram *program, int event)
{
	CHECK((int) program->event == event);
	check_node(program, program->condition, 1);

	CHECK(program->action_count >= 1);
	CHECK(program->action_count <= 20);
	CHECK(program->actions != NULL);
	for (int i = 0; i < program->action_count; i++)
		check_action(&program->actions[i]);

	CHECK(program->fact_count >= 0);
	CHECK(program->fact_count == 0 || program->facts != NULL);
	for (int i = 0; i < program->fact_count; i++)
	{
		check_fact_ref(&program->facts[i]);
		CHECK((cs_rule_facts[program->facts[i].fact].events &
			   RULE_EVENT_BIT(program->event)) != 0);
	}

	CHECK(program->cost >= program->condition->cost);
	CHECK(program->cost <= RULE_SOURCE_QUERY);
}

static void
check_error(const RuleError *error)
{
	CHECK(is_terminated(error->path, sizeof(error->path)));
	CHECK(is_terminated(error->message, sizeof(error->message)));
	CHECK(is_terminated(error->found, sizeof(error->found)));
	CHECK(is_terminated(error->hint, sizeof(error->hint)));
	CHECK(strncmp(error->path, "$.", 2) == 0);
	CHECK(error->message[0] != '\0');
}

/*
 * compile_once
 *		Compiles the rule with a fresh arena that fails from allocation
 *		fail_at on (0: never), checks the result and frees the arena. Returns
 *		the number of allocations the compilation made, or -1 when it failed.
 */
static long
compile_once(const char *event_name, const char *condition,
			 const char *actions, long fail_at)
{
	Arena		arena = {NULL, 0, fail_at, false};
	RuleAllocator allocator = {arena_alloc, &arena};
	RuleChecks	checks = {accept_pattern, NULL};
	RuleError	error;
	RuleProgram *program;
	long		result;

	/* No NUL anywhere, so check_error fails if the error is not cleared. */
	memset(&error, 0x7f, sizeof(error));
	program = cs_rule_compile(event_name, condition, actions, &allocator,
							  &checks, &error);
	if (program != NULL)
	{
		CHECK(!arena.failed);
		CHECK(event_name != NULL);
		check_program(program, cs_rule_find_event(event_name));
		result = arena.allocation_count;
	}
	else
	{
		check_error(&error);
		if (arena.failed)
			CHECK(strstr(error.message, "out of memory") != NULL);
		result = -1;
	}
	arena_free(&arena);
	return result;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = memchr(data, '\0', size);
	const uint8_t *first_newline;
	const uint8_t *second_newline = NULL;
	char	   *parts[3] = {NULL, NULL, NULL};
	long		allocations;

	if (end == NULL)
		end = data + size;

	first_newline = memchr(data, '\n', end - data);
	if (first_newline != NULL)
		second_newline = memchr(first_newline + 1, '\n',
								end - (first_newline + 1));

	if (first_newline == NULL)
		parts[0] = copy_part(data, end - data);
	else if (second_newline == NULL)
	{
		parts[0] = copy_part(data, first_newline - data);
		parts[1] = copy_part(first_newline + 1, end - (first_newline + 1));
	}
	else
	{
		parts[0] = copy_part(data, first_newline - data);
		parts[1] = copy_part(first_newline + 1,
							 second_newline - (first_newline + 1));
		parts[2] = copy_part(second_newline + 1, end - (second_newline + 1));
	}

	allocations = compile_once(parts[0], parts[1], parts[2], 0);
	if (allocations > 0)
	{
		uint32_t	hash = 2166136261u;

		/* FNV-1a over the input picks which allocation fails. */
		for (size_t i = 0; i < size; i++)
			hash = (hash ^ data[i]) * 16777619u;
		CHECK(compile_once(parts[0], parts[1], parts[2],
						   1 + (long) (hash % (uint32_t) allocations)) == -1);
	}

	for (int i = 0; i < 3; i++)
		free(parts[i]);
	return 0;
}
