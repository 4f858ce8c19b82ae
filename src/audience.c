/*-------------------------------------------------------------------------
 *
 * audience.c
 *	  Validation of campaign audience predicates: an SQL boolean expression
 *	  over the columns of cs.account AS a, which cs.run_campaigns pastes
 *	  into SELECT ... FROM cs.account AS a WHERE (<predicate>).
 *
 * The predicate is checked by parsing, analyzing and planning that whole
 * statement, so a check passes exactly when the statement would run. The
 * parse tree must be one plain SELECT with nothing after the WHERE clause,
 * which rules out a predicate that closes the parenthesis and appends a
 * second statement, a UNION or an ORDER BY. The closing parenthesis
 * follows a line break, so that a -- comment in the predicate cannot hide
 * it; cs.run_campaigns pastes the predicate the same way. Every table that the analyzed
 * query reads, in subqueries too, must be cs.account.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/audience.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(cs_check_audience_predicate);

/* The statement that the predicate is checked in, and run in. */
#define AUDIENCE_PREFIX "SELECT 1 FROM cs.account AS a WHERE ("
#define AUDIENCE_SUFFIX "\n)"

#define AUDIENCE_HINT "Write a boolean expression over the columns of cs.account AS a, such as a.tier = 'gold' AND a.created_at < '2025-01-01'."

static void reraise_predicate_error(MemoryContext context, const char *predicate)
			pg_attribute_noreturn();
static void check_statement_shape(List *parse_trees);
static bool reads_only_account(Node *node, Oid *account_table);

/*
 * reraise_predicate_error
 *		Raises the error that the parser, the analyzer or the planner raised,
 *		keeping its SQLSTATE, with the position counted in the predicate
 *		instead of in the statement around it.
 */
static void
reraise_predicate_error(MemoryContext context, const char *predicate)
{
	ErrorData  *edata;
	int			prefix_length = strlen(AUDIENCE_PREFIX);
	int			predicate_length = pg_mbstrlen(predicate);
	int			position;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();

	/*
	 * Under SPI, as in a CHECK constraint of an INSERT run by PL/pgSQL, the
	 * SPI error callback has moved the position to internalpos.
	 */
	position = edata->cursorpos > 0 ? edata->cursorpos : edata->internalpos;
	if (position > prefix_length &&
		position <= prefix_length + predicate_length + 2)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("invalid audience predicate: %s", edata->message),
				 errdetail("The error is at character %d of the predicate.",
						   Min(position - prefix_length, predicate_length)),
				 errhint(AUDIENCE_HINT)));
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("invalid audience predicate: %s", edata->message),
			 edata->detail ? errdetail("%s", edata->detail) : 0,
			 errhint(AUDIENCE_HINT)));
}

/*
 * check_statement_shape
 *		Rejects a parse tree that is not one SELECT with one FROM item and
 *		nothing after the WHERE clause.
 */
static void
check_statement_shape(List *parse_trees)
{
	RawStmt    *raw;
	SelectStmt *select;

	if (list_length(parse_trees) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid audience predicate: it contains more than one SQL statement"),
				 errhint(AUDIENCE_HINT)));

	raw = linitial_node(RawStmt, parse_trees);
	if (!IsA(raw->stmt, SelectStmt))
		elog(ERROR, "audience statement did not parse as a SELECT");
	select = (SelectStmt *) raw->stmt;

	if (select->op != SETOP_NONE || select->withClause != NULL ||
		select->intoClause != NULL || select->distinctClause != NIL ||
		select->groupClause != NIL || select->havingClause != NULL ||
		select->windowClause != NIL || select->sortClause != NIL ||
		select->limitOffset != NULL || select->limitCount != NULL ||
		select->lockingClause != NIL || select->valuesLists != NIL ||
		list_length(select->fromClause) != 1 ||
		list_length(select->targetList) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid audience predicate: it adds clauses after the WHERE clause"),
				 errdetail("The predicate is used as %s<predicate>), so it must be a single expression.",
						   AUDIENCE_PREFIX),
				 errhint(AUDIENCE_HINT)));
}

/*
 * reads_only_account
 *		Tree walker over an analyzed query: raises an error at the first
 *		relation in a range table that is not cs.account.
 */
static bool
reads_only_account(Node *node, Oid *account_table)
{
	if (node == NULL)
		return false;

	if (IsA(node, Query))
		return query_tree_walker((Query *) node, reads_only_account,
								 account_table, QTW_EXAMINE_RTES_BEFORE);

	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && rte->relid != *account_table)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid audience predicate: it reads the table %s.%s",
							get_namespace_name(get_rel_namespace(rte->relid)),
							get_rel_name(rte->relid)),
					 errdetail("An audience predicate may read cs.account only."),
					 errhint(AUDIENCE_HINT)));
		return false;
	}

	return expression_tree_walker(node, reads_only_account, account_table);
}

/*
 * cs_check_audience_predicate
 *		SQL function cs.check_audience_predicate(predicate): returns true
 *		when SELECT 1 FROM cs.account AS a WHERE (predicate) parses, reads
 *		no other table and plans. Otherwise it raises an error saying why.
 *
 * NOTE: a function called in the predicate can read other tables; the
 * check sees only the tables that the query itself names.
 */
Datum
cs_check_audience_predicate(PG_FUNCTION_ARGS)
{
	char	   *predicate = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext context = CurrentMemoryContext;
	Oid			account_table;
	char	   *sql;
	List	   *parse_trees = NIL;
	Query	   *query = NULL;

	if (strspn(predicate, " \t\r\n") == strlen(predicate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid audience predicate: it is empty"),
				 errhint("Set the predicate to NULL to select the audience by segment and phase only.")));

	account_table = cs_relation_oid("account");
	if (!OidIsValid(account_table))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"cs.account\" does not exist"),
				 errhint("Run CREATE EXTENSION pg_success in this database.")));

	sql = psprintf("%s%s%s", AUDIENCE_PREFIX, predicate, AUDIENCE_SUFFIX);

	PG_TRY();
	{
		parse_trees = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		reraise_predicate_error(context, predicate);
	}
	PG_END_TRY();

	check_statement_shape(parse_trees);

	PG_TRY();
	{
		query = parse_analyze_fixedparams(linitial_node(RawStmt, parse_trees),
										  sql, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		reraise_predicate_error(context, predicate);
	}
	PG_END_TRY();

	reads_only_account((Node *) query, &account_table);

	PG_TRY();
	{
		pg_plan_queries(pg_rewrite_query(query), sql, 0, NULL);
	}
	PG_CATCH();
	{
		reraise_predicate_error(context, predicate);
	}
	PG_END_TRY();

	PG_RETURN_BOOL(true);
}
