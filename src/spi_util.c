/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Checked SPI execution, catalog look-ups and array builders used by
 *	  every module that runs SQL.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/spi_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/*
 * cs_schema_oid
 *		Returns the OID of the schema cs, raising an error when the extension
 *		is not installed in the current database.
 */
Oid
cs_schema_oid(void)
{
	Oid			schema_oid = get_namespace_oid(CS_SCHEMA_NAME, true);

	if (!OidIsValid(schema_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", CS_SCHEMA_NAME),
				 errhint("Run CREATE EXTENSION pg_success in this database.")));
	return schema_oid;
}

/*
 * cs_relation_oid
 *		Returns the OID of the relation cs.relname, or InvalidOid when there
 *		is none.
 */
Oid
cs_relation_oid(const char *relname)
{
	Oid			schema_oid = get_namespace_oid(CS_SCHEMA_NAME, true);

	if (!OidIsValid(schema_oid))
		return InvalidOid;
	return get_relname_relid(relname, schema_oid);
}

/*
 * cs_relation_owner
 *		Returns the role that owns a relation. The automations act as the
 *		owner of cs.account, who is the user that created the extension.
 */
Oid
cs_relation_owner(Oid relid)
{
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * cs_spi_execute
 *		Runs one statement through SPI and raises an error, naming the
 *		statement, when the result code is not the expected one. Returns the
 *		number of rows processed.
 */
uint64
cs_spi_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
			   const char *nulls, int expected_result)
{
	int			result;

	result = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
								   false, 0);
	if (result != expected_result)
		elog(ERROR, "SPI_execute_with_args returned %s, expected %s, for: %s",
			 SPI_result_code_string(result),
			 SPI_result_code_string(expected_result), sql);
	return SPI_processed;
}

/*
 * cs_spi_get_int64
 *		Returns a bigint column of a row of the last SPI result.
 */
int64
cs_spi_get_int64(int row, int column, bool *isnull)
{
	Datum		value;
	bool		null;

	value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						  column, &null);
	if (isnull)
		*isnull = null;
	return null ? 0 : DatumGetInt64(value);
}

/*
 * cs_spi_get_text
 *		Returns a column of a row of the last SPI result as a string in the
 *		current memory context, or NULL for SQL NULL.
 */
char *
cs_spi_get_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						column);
}

Datum
cs_int64_array(const int64 *values, int count)
{
	return cs_int64_array_with_nulls(values, NULL, count);
}

/*
 * cs_int64_array_with_nulls
 *		Builds a one-dimensional bigint[]; isnull may be NULL when no element
 *		is null.
 */
Datum
cs_int64_array_with_nulls(const int64 *values, const bool *isnull, int count)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(count, 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	ArrayType  *array;

	for (int i = 0; i < count; i++)
		elements[i] = Int64GetDatum(values[i]);

	array = construct_md_array(elements, (bool *) isnull, 1, dims, lbs,
							   INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							   TYPALIGN_DOUBLE);
	pfree(elements);
	return PointerGetDatum(array);
}

/*
 * cs_text_array
 *		Builds a one-dimensional text[] from C strings; a NULL string becomes
 *		a null element.
 */
Datum
cs_text_array(char **values, int count)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(count, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(count, 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	ArrayType  *array;

	for (int i = 0; i < count; i++)
	{
		isnull[i] = (values[i] == NULL);
		elements[i] = isnull[i] ? (Datum) 0 : CStringGetTextDatum(values[i]);
	}

	array = construct_md_array(elements, isnull, 1, dims, lbs,
							   TEXTOID, -1, false, TYPALIGN_INT);
	return PointerGetDatum(array);
}

Datum
cs_timestamptz_array(const TimestampTz *values, int count)
{
	return cs_timestamptz_array_with_nulls(values, NULL, count);
}

/*
 * cs_timestamptz_array_with_nulls
 *		Builds a one-dimensional timestamptz[]; isnull may be NULL when no
 *		element is null.
 */
Datum
cs_timestamptz_array_with_nulls(const TimestampTz *values, const bool *isnull,
								int count)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(count, 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	ArrayType  *array;

	for (int i = 0; i < count; i++)
		elements[i] = TimestampTzGetDatum(values[i]);

	array = construct_md_array(elements, (bool *) isnull, 1, dims, lbs,
							   TIMESTAMPTZOID, sizeof(TimestampTz),
							   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(elements);
	return PointerGetDatum(array);
}

/*
 * cs_spi_execute_plan
 *		Runs a statement through a plan that is prepared on first use and
 *		kept for the life of the backend in *plan, and raises an error when
 *		the result code is not the expected one. SPI replans it when the
 *		tables it reads change. Returns the number of rows processed.
 */
uint64
cs_spi_execute_plan(SPIPlanPtr *plan, const char *sql, int nargs,
					Oid *argtypes, Datum *values, const char *nulls,
					bool read_only, int expected_result)
{
	int			result;

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed with %s for: %s",
				 SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed for: %s", sql);
		*plan = prepared;
	}

	result = SPI_execute_plan(*plan, values, nulls, read_only, 0);
	if (result != expected_result)
		elog(ERROR, "SPI_execute_plan returned %s, expected %s, for: %s",
			 SPI_result_code_string(result),
			 SPI_result_code_string(expected_result), sql);
	return SPI_processed;
}
