/*-------------------------------------------------------------------------
 *
 * owner_assignment.c
 *	  Gives accounts an owner of the team role that owns their phase, by
 *	  the phase's strategy: least_accounts, least_arr or round_robin, within
 *	  each member's capacity and segments.
 *
 * One call handles a whole set of accounts. One query reads the accounts
 * that need an owner and one reads the candidate members and their current
 * load. The choice is made in memory, and one statement writes the new
 * owners and their history. The cost is one pass over the accounts and a
 * scan of the members per account, so a million accounts take seconds and
 * no query runs per account.
 *
 * NOTE: loads are read from the statement's snapshot. Two transactions
 * that assign at the same time each see the other's assignments only after
 * commit, so both can pick the same least-loaded member, and a capacity can
 * be exceeded by the number of concurrent assignments.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/owner_assignment.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cs_assign_owners);

typedef enum AssignmentStrategy
{
	STRATEGY_LEAST_ACCOUNTS,
	STRATEGY_LEAST_ARR,
	STRATEGY_ROUND_ROBIN
} AssignmentStrategy;

/* An account that needs an owner. */
typedef struct Candidate
{
	int64		account_id;
	char	   *segment;		/* NULL when the account has no segment */
	int64		owner_id;		/* current owner, 0 when none */
	char	   *role;			/* role that owns the account's phase */
	AssignmentStrategy strategy;
	char	   *phase_name;
	double		arr;
	const char *need;			/* why the account needs an owner */
	TimestampTz entered_at;		/* when the account entered its phase */
} Candidate;

/* A member who can receive accounts, with the load they carry now. */
typedef struct Member
{
	int64		member_id;
	char	   *role;
	char	  **segments;		/* NULL when the member serves every segment */
	int			segment_count;
	int64		max_accounts;	/* 0 when unlimited */
	double		max_arr;		/* 0 when unlimited */
	int64		accounts;
	double		arr;
} Member;

/* The outcome for one account. */
typedef struct Assignment
{
	int64		account_id;
	int64		member_id;		/* 0 when no member was available */
	char	   *reason;
	TimestampTz changed_at;
} Assignment;

static AssignmentStrategy parse_strategy(const char *name);
static const char *strategy_name(AssignmentStrategy strategy);
static bool arr_is_needed(void);
static Candidate *read_candidates(const char *account_filter,
								  const char *role, const char *strategy,
								  int nargs,
								  Oid *argtypes, Datum *values, int *count);
static Member *read_members(Candidate *candidates, int candidate_count,
							int *count);
static void read_round_robin_cursors(char ***roles, int64 **last_ids,
									 int *count);
static bool member_serves(const Member *member, const Candidate *candidate);
static bool member_has_room(const Member *member, const Candidate *candidate);
static Member *choose_member(Member *members, int member_count,
							 const Candidate *candidate, int64 last_id,
							 const char **failure);
static int64 write_assignments(Assignment *assignments, int count,
							   const char *changed_by);
static void write_round_robin_cursors(char **roles, int64 *last_ids,
									  int count);

static AssignmentStrategy
parse_strategy(const char *name)
{
	if (strcmp(name, "least_arr") == 0)
		return STRATEGY_LEAST_ARR;
	if (strcmp(name, "round_robin") == 0)
		return STRATEGY_ROUND_ROBIN;
	return STRATEGY_LEAST_ACCOUNTS;
}

static const char *
strategy_name(AssignmentStrategy strategy)
{
	switch (strategy)
	{
		case STRATEGY_LEAST_ARR:
			return "least_arr";
		case STRATEGY_ROUND_ROBIN:
			return "round_robin";
		default:
			return "least_accounts";
	}
}

/*
 * arr_is_needed
 *		True when a phase assigns by least_arr or an active member has an ARR
 *		capacity. Only then is the ARR of each account summed, because that
 *		is a look-up into cs.contract per account.
 */
static bool
arr_is_needed(void)
{
	cs_spi_execute("SELECT EXISTS (SELECT 1 FROM cs.phase AS p "
				   "WHERE p.assignment_strategy = 'least_arr') "
				   "OR EXISTS (SELECT 1 FROM cs.team_member AS m "
				   "WHERE m.active AND m.max_arr IS NOT NULL)",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);
	return strcmp(cs_spi_get_text(0, 1), "t") == 0;
}

/*
 * read_candidates
 *		Reads the accounts that match account_filter (an SQL condition on the
 *		alias a, for cs.account) and need an owner: none, an inactive one,
 *		or one whose role differs from the role that owns the phase. Sorted
 *		by role and account, so that results do not depend on the order the
 *		accounts were loaded in.
 */
static Candidate *
read_candidates(const char *account_filter, const char *role,
				const char *strategy, int nargs, Oid *argtypes,
				Datum *values, int *count)
{
	const char *role_expression = "p.owner_role";
	const char *strategy_expression = "p.assignment_strategy";
	char	   *sql;
	Candidate  *candidates;
	int			rows;
	const char *arr_expression = "0::float8";

	if (arr_is_needed())
		arr_expression = "coalesce((SELECT sum(c.arr) FROM cs.contract AS c "
			"WHERE c.account_id = a.account_id AND c.status = 'active'), 0)::float8";

	/*
	 * A rule's assign_owner action names the role and strategy itself. The
	 * role is then a constant, which ORDER BY takes only by column number.
	 */
	if (role != NULL)
		role_expression = quote_literal_cstr(role);
	if (strategy != NULL)
		strategy_expression = quote_literal_cstr(strategy);

	sql = psprintf("SELECT a.account_id, a.segment, a.owner_id, %1$s, "
				   "%2$s, p.name, %3$s, "
				   "CASE WHEN a.owner_id IS NULL THEN 'no owner' "
				   "WHEN NOT o.active THEN 'owner inactive' "
				   "ELSE 'owner has role ' || o.role_name END, "
				   "a.phase_entered_at "
				   "FROM cs.account AS a "
				   "JOIN cs.phase AS p ON p.phase_id = a.phase_id "
				   "LEFT JOIN cs.team_member AS o ON o.member_id = a.owner_id "
				   "WHERE %1$s IS NOT NULL "
				   "AND (a.owner_id IS NULL OR NOT o.active OR o.role_name <> %1$s) "
				   "AND (%4$s) "
				   "ORDER BY 4, a.account_id",
				   role_expression, strategy_expression, arr_expression,
				   account_filter);

	cs_spi_execute(sql, nargs, argtypes, values, NULL, SPI_OK_SELECT);

	rows = (int) SPI_processed;
	candidates = palloc(sizeof(Candidate) * Max(rows, 1));

	for (int i = 0; i < rows; i++)
	{
		Candidate  *candidate = &candidates[i];
		bool		isnull;
		char	   *need;

		candidate->account_id = cs_spi_get_int64(i, 1, NULL);
		candidate->segment = cs_spi_get_text(i, 2);
		candidate->owner_id = cs_spi_get_int64(i, 3, &isnull);
		candidate->role = cs_spi_get_text(i, 4);
		candidate->strategy = parse_strategy(cs_spi_get_text(i, 5));
		candidate->phase_name = cs_spi_get_text(i, 6);
		candidate->arr = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc,
													  7, &isnull));
		need = cs_spi_get_text(i, 8);
		candidate->need = need;
		candidate->entered_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc,
																  9, &isnull));
	}

	*count = rows;
	return candidates;
}

/*
 * read_members
 *		Reads the active members of the roles the candidates need, with the
 *		number of accounts they own and, where a strategy or a capacity uses
 *		it, the ARR of those accounts' active contracts. Sorted by member id,
 *		which is the tie-break and the round-robin order.
 */
static Member *
read_members(Candidate *candidates, int candidate_count, int *count)
{
	Member	   *members;
	int			rows;
	char	  **roles = palloc(sizeof(char *) * candidate_count);
	int			role_count = 0;
	bool		need_arr = false;
	Oid			argtypes[2] = {TEXTARRAYOID, BOOLOID};
	Datum		values[2];

	/* Candidates are sorted by role, so distinct roles are adjacent. */
	for (int i = 0; i < candidate_count; i++)
	{
		if (role_count == 0 || strcmp(roles[role_count - 1], candidates[i].role) != 0)
			roles[role_count++] = candidates[i].role;
		if (candidates[i].strategy == STRATEGY_LEAST_ARR)
			need_arr = true;
	}
	values[0] = cs_text_array(roles, role_count);
	values[1] = BoolGetDatum(need_arr);

	cs_spi_execute("SELECT m.member_id, m.role_name, m.segments, "
				   "coalesce(m.max_accounts, 0)::int8, coalesce(m.max_arr, 0)::float8, "
				   "(SELECT count(*) FROM cs.account AS a WHERE a.owner_id = m.member_id), "
				   "CASE WHEN $2 OR m.max_arr IS NOT NULL THEN "
				   "coalesce((SELECT sum(c.arr) FROM cs.account AS a "
				   "JOIN cs.contract AS c ON c.account_id = a.account_id AND c.status = 'active' "
				   "WHERE a.owner_id = m.member_id), 0)::float8 ELSE 0 END "
				   "FROM cs.team_member AS m "
				   "WHERE m.active AND m.role_name = ANY ($1) "
				   "ORDER BY m.member_id",
				   2, argtypes, values, NULL, SPI_OK_SELECT);

	rows = (int) SPI_processed;
	members = palloc0(sizeof(Member) * Max(rows, 1));

	for (int i = 0; i < rows; i++)
	{
		Member	   *member = &members[i];
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		segments;

		member->member_id = cs_spi_get_int64(i, 1, NULL);
		member->role = cs_spi_get_text(i, 2);

		segments = SPI_getbinval(tuple, tupdesc, 3, &isnull);
		if (!isnull)
		{
			Datum	   *elements;
			int			element_count;

			deconstruct_array(DatumGetArrayTypeP(segments), TEXTOID, -1,
							  false, TYPALIGN_INT, &elements, NULL,
							  &element_count);
			if (element_count > 0)
			{
				member->segments = palloc(sizeof(char *) * element_count);
				for (int s = 0; s < element_count; s++)
					member->segments[s] = TextDatumGetCString(elements[s]);
				member->segment_count = element_count;
			}
		}

		member->max_accounts = cs_spi_get_int64(i, 4, NULL);
		member->max_arr = DatumGetFloat8(SPI_getbinval(tuple, tupdesc, 5, &isnull));
		member->accounts = cs_spi_get_int64(i, 6, NULL);
		member->arr = DatumGetFloat8(SPI_getbinval(tuple, tupdesc, 7, &isnull));
	}

	*count = rows;
	return members;
}

static void
read_round_robin_cursors(char ***roles, int64 **last_ids, int *count)
{
	int			rows;

	cs_spi_execute("SELECT r.role_name, r.last_member_id FROM cs.round_robin_cursor AS r",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);

	rows = (int) SPI_processed;
	*roles = palloc(sizeof(char *) * Max(rows, 1));
	*last_ids = palloc(sizeof(int64) * Max(rows, 1));

	for (int i = 0; i < rows; i++)
	{
		(*roles)[i] = cs_spi_get_text(i, 1);
		(*last_ids)[i] = cs_spi_get_int64(i, 2, NULL);
	}
	*count = rows;
}

/*
 * member_serves
 *		True when the member has the role the account needs and serves its
 *		segment. A member limited to segments does not take accounts without
 *		one.
 */
static bool
member_serves(const Member *member, const Candidate *candidate)
{
	if (strcmp(member->role, candidate->role) != 0)
		return false;
	if (member->segments == NULL)
		return true;
	if (candidate->segment == NULL)
		return false;
	for (int s = 0; s < member->segment_count; s++)
	{
		if (strcmp(member->segments[s], candidate->segment) == 0)
			return true;
	}
	return false;
}

static bool
member_has_room(const Member *member, const Candidate *candidate)
{
	if (member->max_accounts > 0 && member->accounts + 1 > member->max_accounts)
		return false;
	if (member->max_arr > 0 && member->arr + candidate->arr > member->max_arr)
		return false;
	return true;
}

/*
 * choose_member
 *		Returns the member who gets the account, or NULL with *failure
 *		saying why none could. For round_robin, last_id is the member who
 *		got the previous account of this role, and the next eligible member
 *		in id order follows, wrapping around.
 */
static Member *
choose_member(Member *members, int member_count, const Candidate *candidate,
			  int64 last_id, const char **failure)
{
	Member	   *best = NULL;
	Member	   *first_eligible = NULL;
	Member	   *next_after_last = NULL;
	bool		any_in_role = false;
	bool		any_serving = false;

	for (int i = 0; i < member_count; i++)
	{
		Member	   *member = &members[i];

		if (strcmp(member->role, candidate->role) == 0)
			any_in_role = true;
		if (!member_serves(member, candidate))
			continue;
		any_serving = true;
		if (!member_has_room(member, candidate))
			continue;

		switch (candidate->strategy)
		{
			case STRATEGY_LEAST_ACCOUNTS:
				if (best == NULL || member->accounts < best->accounts)
					best = member;
				break;
			case STRATEGY_LEAST_ARR:
				if (best == NULL || member->arr < best->arr)
					best = member;
				break;
			case STRATEGY_ROUND_ROBIN:
				if (first_eligible == NULL)
					first_eligible = member;
				if (next_after_last == NULL && member->member_id > last_id)
					next_after_last = member;
				break;
		}
	}

	if (candidate->strategy == STRATEGY_ROUND_ROBIN)
		best = next_after_last ? next_after_last : first_eligible;

	if (best != NULL)
		return best;

	if (!any_in_role)
		*failure = psprintf("no active member has role %s", candidate->role);
	else if (!any_serving)
		*failure = psprintf("no active member with role %s serves segment %s",
							candidate->role,
							candidate->segment ? candidate->segment : "(none)");
	else
		*failure = psprintf("every active member with role %s serving segment %s is at capacity",
							candidate->role,
							candidate->segment ? candidate->segment : "(none)");
	return NULL;
}

/*
 * write_assignments
 *		Sets the new owners and records every outcome in cs.owner_history,
 *		with the owner before the change, in one statement. Returns the
 *		number of accounts that got an owner.
 */
static int64
write_assignments(Assignment *assignments, int count, const char *changed_by)
{
	int64	   *account_ids = palloc(sizeof(int64) * count);
	TimestampTz *changed_at = palloc(sizeof(TimestampTz) * count);
	int64	   *member_ids = palloc(sizeof(int64) * count);
	bool	   *member_nulls = palloc(sizeof(bool) * count);
	char	  **reasons = palloc(sizeof(char *) * count);
	Oid			argtypes[5] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTOID};
	Datum		values[5];
	int64		assigned = 0;
	CsAutomationContext context = {changed_by, 0, true, true};
	CsAutomationContext *saved_context = cs_current_automation;

	for (int i = 0; i < count; i++)
	{
		account_ids[i] = assignments[i].account_id;
		member_ids[i] = assignments[i].member_id;
		member_nulls[i] = (assignments[i].member_id == 0);
		reasons[i] = assignments[i].reason;
		changed_at[i] = assignments[i].changed_at;
		if (!member_nulls[i])
			assigned++;
	}

	values[0] = cs_int64_array(account_ids, count);
	values[1] = cs_int64_array_with_nulls(member_ids, member_nulls, count);
	values[2] = cs_text_array(reasons, count);
	values[3] = cs_timestamptz_array(changed_at, count);
	context.as_of = count > 0 ? changed_at[0] : 0;
	values[4] = CStringGetTextDatum(changed_by);

	/*
	 * The UPDATE fires the account triggers. The context marks this
	 * statement as one that writes its own history and needs no assignment.
	 */
	cs_current_automation = &context;
	PG_TRY();
	{
		cs_spi_execute("WITH outcome AS ("
					   "  SELECT o.account_id, o.member_id, o.reason "
					   "  , o.changed_at "
					   "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
					   "  pg_catalog.unnest($3), pg_catalog.unnest($4)) "
					   "  AS o(account_id, member_id, reason, changed_at)), "
					   "previous AS ("
					   "  SELECT a.account_id, a.owner_id FROM cs.account AS a "
					   "  WHERE a.account_id IN (SELECT account_id FROM outcome)), "
					   "changed AS ("
					   "  UPDATE cs.account AS a SET owner_id = o.member_id "
					   "  FROM outcome AS o "
					   "  WHERE a.account_id = o.account_id "
					   "  AND a.owner_id IS DISTINCT FROM o.member_id "
					   "  RETURNING a.account_id) "
					   "INSERT INTO cs.owner_history "
					   "(account_id, changed_at, from_member_id, to_member_id, changed_by, reason) "
					   "SELECT o.account_id, o.changed_at, p.owner_id, o.member_id, $5, o.reason "
					   "FROM outcome AS o JOIN previous AS p ON p.account_id = o.account_id "
					   "ORDER BY o.account_id",
					   5, argtypes, values, NULL, SPI_OK_INSERT);
	}
	PG_FINALLY();
	{
		cs_current_automation = saved_context;
	}
	PG_END_TRY();

	return assigned;
}

static void
write_round_robin_cursors(char **roles, int64 *last_ids, int count)
{
	Oid			argtypes[2] = {TEXTARRAYOID, INT8ARRAYOID};
	Datum		values[2];

	if (count == 0)
		return;

	values[0] = cs_text_array(roles, count);
	values[1] = cs_int64_array(last_ids, count);

	cs_spi_execute("INSERT INTO cs.round_robin_cursor AS r (role_name, last_member_id) "
				   "SELECT c.role_name, c.last_member_id "
				   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
				   "AS c(role_name, last_member_id) "
				   "ON CONFLICT (role_name) DO UPDATE SET last_member_id = excluded.last_member_id",
				   2, argtypes, values, NULL, SPI_OK_INSERT);
}

/*
 * cs_assign_owners_where
 *		Assigns owners to the accounts that match account_filter and need
 *		one, and returns how many got an owner. Accounts for which no member
 *		is available lose an owner of the wrong role and get a history row
 *		with the reason. The history rows are dated as_of, or, when
 *		at_phase_entry is true, at the time each account entered its phase,
 *		which keeps the owner history in step with the phase history. The
 *		caller is connected to SPI.
 */
int64
cs_assign_owners_where(const char *account_filter, int nargs, Oid *argtypes,
					   Datum *values, TimestampTz as_of, bool at_phase_entry,
					   const char *changed_by)
{
	return cs_assign_owners_by_role(account_filter, NULL, NULL, nargs,
									argtypes, values, as_of, at_phase_entry,
									changed_by);
}

/*
 * cs_assign_owners_by_role
 *		cs_assign_owners_where with a team role and a strategy that replace
 *		those of the accounts' phases when not NULL. With a role, an account
 *		that no member of the role can take keeps its owner.
 */
int64
cs_assign_owners_by_role(const char *account_filter, const char *role,
						 const char *strategy, int nargs, Oid *argtypes,
						 Datum *values, TimestampTz as_of,
						 bool at_phase_entry, const char *changed_by)
{
	Candidate  *candidates;
	int			candidate_count;
	Member	   *members;
	int			member_count;
	Assignment *assignments;
	char	  **cursor_roles;
	int64	   *cursor_last_ids;
	int			cursor_count;
	int			assignment_count = 0;
	bool		cursors_changed = false;

	candidates = read_candidates(account_filter, role, strategy, nargs,
								 argtypes, values, &candidate_count);
	if (candidate_count == 0)
		return 0;

	members = read_members(candidates, candidate_count, &member_count);
	read_round_robin_cursors(&cursor_roles, &cursor_last_ids, &cursor_count);

	/* Room for a cursor per distinct role among the candidates. */
	cursor_roles = repalloc(cursor_roles,
							sizeof(char *) * (cursor_count + candidate_count));
	cursor_last_ids = repalloc(cursor_last_ids,
							   sizeof(int64) * (cursor_count + candidate_count));

	assignments = palloc(sizeof(Assignment) * candidate_count);

	for (int i = 0; i < candidate_count; i++)
	{
		Candidate  *candidate = &candidates[i];
		Assignment *assignment = &assignments[assignment_count];
		int			cursor_index = -1;
		int64		last_id = 0;
		const char *failure = NULL;
		Member	   *chosen;

		CHECK_FOR_INTERRUPTS();

		if (candidate->strategy == STRATEGY_ROUND_ROBIN)
		{
			for (int c = 0; c < cursor_count; c++)
			{
				if (strcmp(cursor_roles[c], candidate->role) == 0)
				{
					cursor_index = c;
					last_id = cursor_last_ids[c];
					break;
				}
			}
		}

		chosen = choose_member(members, member_count, candidate, last_id,
							   &failure);

		/*
		 * A rule's action keeps the current owner when no member of its
		 * role can take the account, and writes no history.
		 */
		if (chosen == NULL && role != NULL)
			continue;

		assignment_count++;
		assignment->account_id = candidate->account_id;
		assignment->changed_at = at_phase_entry ? candidate->entered_at : as_of;
		if (chosen == NULL)
		{
			assignment->member_id = 0;
			assignment->reason = psprintf("%s in phase %s: %s",
										  candidate->need,
										  candidate->phase_name, failure);
			continue;
		}

		assignment->member_id = chosen->member_id;
		assignment->reason = psprintf("%s in phase %s: %s",
									  candidate->need, candidate->phase_name,
									  strategy_name(candidate->strategy));
		chosen->accounts++;
		chosen->arr += candidate->arr;

		/* The previous owner, if loaded, carries one account less. */
		for (int m = 0; m < member_count && candidate->owner_id != 0; m++)
		{
			if (members[m].member_id == candidate->owner_id)
			{
				members[m].accounts--;
				members[m].arr -= candidate->arr;
				break;
			}
		}

		if (candidate->strategy == STRATEGY_ROUND_ROBIN)
		{
			if (cursor_index < 0)
			{
				cursor_index = cursor_count++;
				cursor_roles[cursor_index] = candidate->role;
			}
			cursor_last_ids[cursor_index] = chosen->member_id;
			cursors_changed = true;
		}
	}

	if (cursors_changed)
		write_round_robin_cursors(cursor_roles, cursor_last_ids, cursor_count);

	return write_assignments(assignments, assignment_count, changed_by);
}

/*
 * cs_assign_owners
 *		SQL function cs.assign_owners(account_ids, as_of): assigns owners to
 *		the listed accounts, or to every account when the list is NULL.
 *		Runs as the owner of cs.account, like the triggers, so that callers
 *		need no privileges on the history tables.
 */
Datum
cs_assign_owners(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = PG_ARGISNULL(1) ? GetCurrentTransactionStartTimestamp()
		: PG_GETARG_TIMESTAMPTZ(1);
	Oid			account_table = cs_relation_oid("account");
	Oid			saved_user;
	int			saved_security_context;
	char	   *caller = GetUserNameFromId(GetUserId(), false);
	int64		assigned;

	if (!OidIsValid(account_table))
		cs_schema_oid();

	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(account_table),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (PG_ARGISNULL(0))
		assigned = cs_assign_owners_where("true", 0, NULL, NULL, as_of, false,
										  psprintf("owner_assignment by %s", caller));
	else
	{
		Oid			argtypes[1] = {INT8ARRAYOID};
		Datum		values[1] = {PG_GETARG_DATUM(0)};

		assigned = cs_assign_owners_where("a.account_id IN (SELECT pg_catalog.unnest($1))", 1,
										  argtypes, values, as_of, false,
										  psprintf("owner_assignment by %s", caller));
	}

	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);

	PG_RETURN_INT64(assigned);
}
