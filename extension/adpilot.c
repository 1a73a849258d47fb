/*-------------------------------------------------------------------------
 *
 * adpilot.c
 *	  The adpilot extension's C shim: scores rows inside PostgreSQL with the champion CTR model
 *	  of a data set, through the Swift functions of adpilot_scoring.h.
 *
 * This file does all PostgreSQL work: arguments, arrays, SPI look-ups, caches, query cancel and
 * errors. Swift code never calls back into PostgreSQL and keeps no pointer after it returns, so
 * every ereport here runs with no Swift frame on the stack.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "adpilot_scoring.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(adpilot_score);
PG_FUNCTION_INFO_V1(adpilot_score_candidates);

/* The number of loaded models a backend keeps; the least recently used one is freed first. */
#define MODEL_CACHE_SIZE 4

/* The number of candidates scored between two checks for query cancel. */
#define CANDIDATE_CHUNK 1024

/* The size of the buffer that receives error messages from Swift. */
#define MESSAGE_SIZE 1024

/*
 * A model loaded in this backend, keyed by its adpilot.models id and the version of that row,
 * so that weights updated in place under the same id are loaded again.
 */
typedef struct CachedModel
{
	char	   *model_id;		/* in TopMemoryContext; NULL when the slot is free */
	char	   *row_version;	/* the row's xmin and ctid, in TopMemoryContext */
	void	   *handle;			/* from adpilot_model_load, owned by Swift */
	int64		shape[ADPILOT_SHAPE_COUNT];
	uint64		last_used;
} CachedModel;

static CachedModel model_cache[MODEL_CACHE_SIZE];
static uint64 model_cache_clock = 0;

/*
 * The champion look-up, prepared once per backend: statements that score a few candidates
 * each would otherwise parse and plan it every time.
 */
static SPIPlanPtr champion_plan = NULL;

/*
 * The champion of one data set, looked up once per statement and kept in fn_extra. It stores
 * the model id, not the handle, because the backend cache may free a handle mid-statement.
 *
 * fn_extra can outlive a statement: PL/pgSQL evaluates simple expressions with a state that
 * lasts for the transaction. The entry therefore also records the snapshot it was read under,
 * and a call under another snapshot (a later statement, or one taken after newer commits) reads
 * the alias again. Snapshots are compared by their in-progress transactions too: a transaction
 * that commits between two snapshots with the same bounds changes only that list.
 */
typedef struct StatementChampion
{
	char	   *dataset;
	char	   *model_id;
	char	   *row_version;
	/* The snapshot the alias was read under: its bounds and its in-progress transactions. */
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint32		xcnt;
	TransactionId *xip;
	int32		subxcnt;
	TransactionId *subxip;
	bool		suboverflowed;
} StatementChampion;

/* Feature values of rows laid out as adpilot_model_score expects, in CurrentMemoryContext. */
typedef struct RowArrays
{
	int64		row_count;
	const char **cat_values;
	int32	   *cat_lengths;
	double	   *num_values;
	uint8	   *num_nulls;
	const char **seq_values;
	int32	   *seq_lengths;
	int64		seq_count;		/* entries of seq_values and seq_lengths */
	int64	   *seq_offsets;	/* NULL: every row shares the seq_count values */
} RowArrays;

/* One deconstructed array argument. */
typedef struct ArrayArgument
{
	const char *name;
	int			ndim;
	int			dims[MAXDIM];
	int			count;
	Datum	   *values;
	bool	   *nulls;
} ArrayArgument;

/*
 * find_cached_model
 *		Returns the backend's cache entry of model_id at row_version, or NULL.
 */
static CachedModel *
find_cached_model(const char *model_id, const char *row_version)
{
	for (int i = 0; i < MODEL_CACHE_SIZE; i++)
	{
		if (model_cache[i].model_id != NULL &&
			strcmp(model_cache[i].model_id, model_id) == 0 &&
			strcmp(model_cache[i].row_version, row_version) == 0)
		{
			model_cache[i].last_used = ++model_cache_clock;
			return &model_cache[i];
		}
	}
	return NULL;
}

/*
 * free_cached_model
 *		Frees the model in a cache slot and marks the slot free.
 */
static void
free_cached_model(CachedModel *slot)
{
	adpilot_model_free(slot->handle);
	pfree(slot->model_id);
	pfree(slot->row_version);
	slot->model_id = NULL;
	slot->row_version = NULL;
	slot->handle = NULL;
}

/*
 * free_slot
 *		Returns an empty cache slot, freeing the least recently used model when all are taken.
 */
static CachedModel *
free_slot(void)
{
	CachedModel *oldest = &model_cache[0];

	for (int i = 0; i < MODEL_CACHE_SIZE; i++)
	{
		if (model_cache[i].model_id == NULL)
			return &model_cache[i];
		if (model_cache[i].last_used < oldest->last_used)
			oldest = &model_cache[i];
	}
	free_cached_model(oldest);
	return oldest;
}

/* The maximum length, in bytes, of a data set name that an error message quotes in full. */
#define QUOTED_NAME_BYTES 100

/*
 * lookup_champion
 *		Returns the model id of the dataset's champion alias, and stores the version of its
 *		adpilot.models row (xmin and ctid) in *row_version, both in CurrentMemoryContext.
 *
 * Raises an error when the data set has no champion, the alias names a missing model, or the
 * champion's feature_spec differs from the one adpilot.datasets records for the data set now.
 * An import can give a data set another layout of the same array lengths, and the old champion
 * would then score its rows as other fields. The caller has connected to SPI.
 */
static char *
lookup_champion(const char *dataset, char **row_version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	char	   *model_id;
	bool		exists;
	bool		same_layout;
	int			ret;

	if (champion_plan == NULL)
	{
		/* A model name without a data set of that name has no layout to compare with. */
		SPIPlanPtr	plan = SPI_prepare(
			"SELECT a.model_id, m.id IS NOT NULL,"
			" d.feature_spec IS NULL OR m.feature_spec = d.feature_spec,"
			" m.xmin::text || ':' || m.ctid::text"
			" FROM adpilot.model_aliases a"
			" LEFT JOIN adpilot.models m ON m.id = a.model_id"
			" LEFT JOIN adpilot.datasets d ON d.name = a.name"
			" WHERE a.name = $1 AND a.alias = 'champion'",
			1, argtypes);

		if (plan == NULL)
			elog(ERROR, "champion look-up failed: SPI_prepare returned %d", SPI_result);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "champion look-up failed: SPI_keepplan failed");
		champion_plan = plan;
	}
	args[0] = CStringGetTextDatum(dataset);
	ret = SPI_execute_plan(champion_plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "champion look-up failed: SPI_execute_plan returned %d", ret);
	if (SPI_processed == 0 && strlen(dataset) > QUOTED_NAME_BYTES)
	{
		int			length = strlen(dataset);

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("data set \"%.*s...\" (%d bytes) has no champion model",
						pg_mbcliplen(dataset, length, QUOTED_NAME_BYTES), dataset, length),
				 errhint("Pass a data set name that \"adpilot summary\" lists.")));
	}
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("data set \"%s\" has no champion model", dataset),
				 errhint("Check the name against \"adpilot summary\". A data set that logs "
						 "features gets a champion from \"adpilot train --dataset %s\"; a "
						 "data set without features cannot be scored.", dataset)));

	model_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
										&isnull));
	if (!exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("champion model \"%s\" of data set \"%s\" not found in adpilot.models",
						model_id, dataset),
				 errhint("Point the 'champion' alias at a registered model.")));
	same_layout = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3,
											 &isnull));
	if (!same_layout)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("champion model \"%s\" of data set \"%s\" was trained on another "
						"feature spec than the data set has now", model_id, dataset),
				 errdetail("feature_spec in adpilot.models differs from the one in "
						   "adpilot.datasets, so the model would read the arrays as other "
						   "fields."),
				 errhint("Train it again with \"adpilot train --dataset %s\", which replaces "
						 "that champion, or promote a model of the current layout.", dataset)));
	*row_version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	return model_id;
}

/*
 * load_model
 *		Reads the weights of model_id from adpilot.models and loads them into the backend cache,
 *		in place of any entry of an older version of that row.
 *
 * The caller has connected to SPI and read row_version under the same snapshot, so both
 * describe one version of the row. Swift copies the bytes, so nothing it keeps points into
 * PostgreSQL memory.
 */
static CachedModel *
load_model(const char *dataset, const char *model_id, const char *row_version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	Datum		weights_datum;
	bytea	   *weights;
	bool		isnull;
	void	   *handle = NULL;
	char		message[MESSAGE_SIZE];
	int32		status;
	CachedModel *slot;
	int			ret;

	args[0] = CStringGetTextDatum(model_id);
	ret = SPI_execute_with_args("SELECT weights FROM adpilot.models WHERE id = $1",
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "model look-up failed: SPI_execute_with_args returned %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("champion model \"%s\" of data set \"%s\" not found in adpilot.models",
						model_id, dataset),
				 errhint("Point the 'champion' alias at a registered model.")));
	weights_datum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model \"%s\" has null weights", model_id)));
	weights = DatumGetByteaPP(weights_datum);

	message[0] = '\0';
	status = adpilot_model_load((const uint8_t *) VARDATA_ANY(weights),
								VARSIZE_ANY_EXHDR(weights), &handle, message, MESSAGE_SIZE);
	if (status != ADPILOT_SCORING_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not load champion model \"%s\" of data set \"%s\"",
						model_id, dataset),
				 errdetail("%s", message),
				 errhint("Register the model again with adpilot, or point the 'champion' "
						 "alias at a valid model.")));

	for (int i = 0; i < MODEL_CACHE_SIZE; i++)
	{
		if (model_cache[i].model_id != NULL && strcmp(model_cache[i].model_id, model_id) == 0)
			free_cached_model(&model_cache[i]);
	}
	slot = free_slot();
	slot->handle = handle;
	if (adpilot_model_get_shape(handle, slot->shape) != ADPILOT_SCORING_OK)
	{
		adpilot_model_free(handle);
		slot->handle = NULL;
		elog(ERROR, "could not read the input shape of model \"%s\"", model_id);
	}
	slot->model_id = MemoryContextStrdup(TopMemoryContext, model_id);
	slot->row_version = MemoryContextStrdup(TopMemoryContext, row_version);
	slot->last_used = ++model_cache_clock;
	return slot;
}

/*
 * same_snapshot
 *		Returns whether snapshot has the bounds, command id and in-progress transactions that
 *		champion recorded.
 */
static bool
same_snapshot(const StatementChampion *champion, Snapshot snapshot)
{
	return champion->xmin == snapshot->xmin && champion->xmax == snapshot->xmax &&
		champion->curcid == snapshot->curcid && champion->xcnt == snapshot->xcnt &&
		champion->subxcnt == snapshot->subxcnt &&
		champion->suboverflowed == snapshot->suboverflowed &&
		(snapshot->xcnt == 0 ||
		 memcmp(champion->xip, snapshot->xip, sizeof(TransactionId) * snapshot->xcnt) == 0) &&
		(snapshot->subxcnt <= 0 ||
		 memcmp(champion->subxip, snapshot->subxip,
				sizeof(TransactionId) * snapshot->subxcnt) == 0);
}

/*
 * record_snapshot
 *		Copies snapshot's bounds and in-progress transactions into champion, in context. Without
 *		a snapshot it records invalid bounds, which no later snapshot matches.
 */
static void
record_snapshot(StatementChampion *champion, Snapshot snapshot, MemoryContext context)
{
	if (champion->xip != NULL)
		pfree(champion->xip);
	if (champion->subxip != NULL)
		pfree(champion->subxip);
	champion->xip = NULL;
	champion->subxip = NULL;
	if (snapshot == NULL)
	{
		champion->xmin = InvalidTransactionId;
		champion->xmax = InvalidTransactionId;
		champion->curcid = InvalidCommandId;
		champion->xcnt = 0;
		champion->subxcnt = 0;
		champion->suboverflowed = false;
		return;
	}
	champion->xmin = snapshot->xmin;
	champion->xmax = snapshot->xmax;
	champion->curcid = snapshot->curcid;
	champion->xcnt = snapshot->xcnt;
	champion->subxcnt = snapshot->subxcnt;
	champion->suboverflowed = snapshot->suboverflowed;
	if (snapshot->xcnt > 0)
	{
		champion->xip = MemoryContextAlloc(context, sizeof(TransactionId) * snapshot->xcnt);
		memcpy(champion->xip, snapshot->xip, sizeof(TransactionId) * snapshot->xcnt);
	}
	if (snapshot->subxcnt > 0)
	{
		champion->subxip = MemoryContextAlloc(context,
											  sizeof(TransactionId) * snapshot->subxcnt);
		memcpy(champion->subxip, snapshot->subxip, sizeof(TransactionId) * snapshot->subxcnt);
	}
}

/*
 * champion_model
 *		Returns the loaded champion model of dataset for this call.
 *
 * The alias is read once per statement (per snapshot) and data set, and kept in fn_extra. The
 * model is loaded once per backend, model id and version of its adpilot.models row, so a moved
 * alias, or weights updated in place, load the new model on the next statement.
 */
static CachedModel *
champion_model(FunctionCallInfo fcinfo, const char *dataset)
{
	StatementChampion *champion = (StatementChampion *) fcinfo->flinfo->fn_extra;
	Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
	CachedModel *model;
	char	   *model_id;
	char	   *row_version;

	if (champion != NULL && snapshot != NULL && strcmp(champion->dataset, dataset) == 0 &&
		same_snapshot(champion, snapshot))
	{
		model = find_cached_model(champion->model_id, champion->row_version);
		if (model != NULL)
			return model;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	model_id = lookup_champion(dataset, &row_version);
	model = find_cached_model(model_id, row_version);
	if (model == NULL)
		model = load_model(dataset, model_id, row_version);
	SPI_finish();

	if (champion == NULL)
		champion = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StatementChampion));
	else
	{
		pfree(champion->dataset);
		pfree(champion->model_id);
		pfree(champion->row_version);
	}
	champion->dataset = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, dataset);
	champion->model_id = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, model->model_id);
	champion->row_version = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, model->row_version);
	record_snapshot(champion, snapshot, fcinfo->flinfo->fn_mcxt);
	fcinfo->flinfo->fn_extra = champion;
	return model;
}

/*
 * argument_text
 *		Returns text argument n as a C string, raising an error when it is NULL.
 */
static char *
argument_text(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * argument_array
 *		Deconstructs array argument n, raising an error when it is NULL.
 */
static ArrayArgument
argument_array(FunctionCallInfo fcinfo, int n, const char *name, Oid element_type)
{
	ArrayArgument result;
	ArrayType  *array;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 strcmp(name, "ad_ids") == 0 ?
				 errhint("Pass one ad id per candidate.") :
				 errhint("Pass an empty array for a model without such fields.")));
	array = PG_GETARG_ARRAYTYPE_P(n);
	if (ARR_ELEMTYPE(array) != element_type)
		elog(ERROR, "%s has element type %u, expected %u", name, ARR_ELEMTYPE(array),
			 element_type);

	result.name = name;
	result.ndim = ARR_NDIM(array);
	for (int i = 0; i < result.ndim; i++)
		result.dims[i] = ARR_DIMS(array)[i];
	get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, element_type, typlen, typbyval, typalign,
					  &result.values, &result.nulls, &result.count);
	return result;
}

/*
 * check_length
 *		Raises an error unless array has `expected` elements per row in `rows` rows.
 *
 * A one-row call takes a one-dimensional array; a candidate call takes rows x expected (or
 * an empty array when expected is 0).
 */
static void
check_length(const ArrayArgument *array, int64 rows, int64 expected, bool per_candidate,
			 const CachedModel *model)
{
	bool		ok;

	if (expected == 0)
		ok = array->count == 0;
	else if (!per_candidate)
		ok = array->ndim == 1 && array->count == expected;
	else
		ok = array->ndim == 2 && array->dims[0] == rows && array->dims[1] == expected;

	if (ok)
		return;
	if (!per_candidate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not match the feature spec of model \"%s\"",
						array->name, model->model_id),
				 errdetail("The model expects %lld elements in one dimension, got %d elements "
						   "in %d dimension(s).", (long long) expected, array->count, array->ndim),
				 errhint("Build %s in the order of the model's feature_spec in "
						 "adpilot.models.", array->name)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s does not match the candidates and the feature spec of model \"%s\"",
					array->name, model->model_id),
			 errdetail("Expected a %lld x %lld array, got %d elements in %d dimension(s).",
					   (long long) rows, (long long) expected, array->count, array->ndim),
			 errhint("Aggregate one row per candidate with array_agg, in the order of "
					 "ad_ids.")));
}

/*
 * check_no_rows
 *		Raises an error unless array is empty, as it must be when there are no candidates.
 */
static void
check_no_rows(const ArrayArgument *array)
{
	if (array->count != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, but ad_ids is empty", array->name, array->count),
				 errhint("Pass one row per candidate in the order of ad_ids, or empty arrays "
						 "when there are no candidates.")));
}

/*
 * check_sequence
 *		Raises an error unless seq_values contains whole behaviour items, either as one list
 *		shared by all rows (one dimension) or as one list per candidate (two dimensions).
 */
static void
check_sequence(const ArrayArgument *array, int64 rows, const CachedModel *model)
{
	int64		subfields = model->shape[ADPILOT_SHAPE_SUBFIELDS];
	int64		per_row;

	if (array->count == 0)
		return;
	if (subfields == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seq_values must be empty for model \"%s\"", model->model_id),
				 errdetail("The model has no behaviour sequence, got %d elements.",
						   array->count),
				 errhint("Pass an empty array.")));
	if (array->ndim == 1)
		per_row = array->count;
	else if (array->ndim == 2 && array->dims[0] == rows)
		per_row = array->dims[1];
	else if (array->ndim == 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seq_values has %d rows, not one per candidate (%lld)", array->dims[0],
						(long long) rows),
				 errhint("Pass one behaviour list per candidate, in the order of ad_ids, or one "
						 "list in one dimension shared by all of them.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seq_values has the wrong shape"),
				 errdetail("Expected one dimension, or two with one row per candidate, got %d "
						   "dimensions.", array->ndim),
				 errhint("Pass one behaviour list shared by all candidates, or a "
						 "two-dimensional array with one list per candidate.")));
	if (per_row % subfields != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seq_values does not contain whole behaviour items of model \"%s\"",
						model->model_id),
				 errdetail(array->ndim == 1
						   ? "Each item has %lld values, got %lld values in the list."
						   : "Each item has %lld values, got %lld values per candidate.",
						   (long long) subfields, (long long) per_row),
				 errhint("List each item's sub-fields together, most recent item first.")));
}

/*
 * utf8_text
 *		Points *value and *length at the UTF-8 bytes of a text datum, converting from the
 *		database encoding (GetDatabaseEncoding) when it is not UTF-8, since the encoder hashes
 *		UTF-8 bytes.
 *
 * pg_server_to_any returns its input unchanged, without a terminating NUL, when it converts
 * nothing (an empty string among them), so only a converted copy may be measured with strlen.
 */
static void
utf8_text(Datum datum, int encoding, const char **value, int32 *length)
{
	text	   *t = DatumGetTextPP(datum);
	const char *bytes = VARDATA_ANY(t);
	int			size = VARSIZE_ANY_EXHDR(t);

	if (size > 0 && encoding != PG_UTF8 && encoding != PG_SQL_ASCII)
	{
		const char *converted = pg_server_to_any(bytes, size, PG_UTF8);

		if (converted != bytes)
		{
			bytes = converted;
			size = strlen(bytes);
		}
	}
	*value = bytes;
	*length = size;
}

/*
 * fill_rows
 *		Lays out rows [start, start + count) of the arguments for adpilot_model_score, or for
 *		adpilot_model_score_shared when seq has one dimension.
 *
 * cat and num contain one row per candidate. seq is shared by all rows when it has one
 * dimension: its values are then laid out once and seq_offsets stays NULL. Otherwise it
 * contains one row per candidate.
 */
static RowArrays
fill_rows(const ArrayArgument *cat, const ArrayArgument *num, const ArrayArgument *seq,
		  int64 start, int64 count, const CachedModel *model)
{
	int64		cat_width = model->shape[ADPILOT_SHAPE_CATEGORICAL];
	int64		num_width = model->shape[ADPILOT_SHAPE_NUMERIC];
	bool		shared = seq->ndim <= 1;
	int64		seq_width = seq->count == 0 ? 0 : (shared ? seq->count : seq->dims[1]);
	int64		seq_total = shared ? seq_width : count * seq_width;
	int			encoding = GetDatabaseEncoding();
	RowArrays	rows;

	rows.row_count = count;
	rows.cat_values = palloc0(sizeof(char *) * Max(1, count * cat_width));
	rows.cat_lengths = palloc0(sizeof(int32) * Max(1, count * cat_width));
	rows.num_values = palloc0(sizeof(double) * Max(1, count * num_width));
	rows.num_nulls = palloc0(sizeof(uint8) * Max(1, count * num_width));
	rows.seq_values = palloc0(sizeof(char *) * Max(1, seq_total));
	rows.seq_lengths = palloc0(sizeof(int32) * Max(1, seq_total));
	rows.seq_count = seq_total;
	rows.seq_offsets = NULL;

	for (int64 i = 0; i < count * cat_width; i++)
	{
		int64		source = start * cat_width + i;

		if (!cat->nulls[source])
			utf8_text(cat->values[source], encoding, &rows.cat_values[i],
					  &rows.cat_lengths[i]);
	}
	for (int64 i = 0; i < count * num_width; i++)
	{
		int64		source = start * num_width + i;

		rows.num_nulls[i] = num->nulls[source] ? 1 : 0;
		rows.num_values[i] = num->nulls[source] ? 0 : DatumGetFloat8(num->values[source]);
	}
	for (int64 i = 0; i < seq_total; i++)
	{
		int64		source = shared ? i : start * seq_width + i;

		if (!seq->nulls[source])
			utf8_text(seq->values[source], encoding, &rows.seq_values[i],
					  &rows.seq_lengths[i]);
	}
	if (!shared)
	{
		rows.seq_offsets = palloc0(sizeof(int64) * (count + 1));
		for (int64 row = 0; row < count; row++)
			rows.seq_offsets[row + 1] = (row + 1) * seq_width;
	}
	return rows;
}

/*
 * score_rows
 *		Scores laid-out rows into scores, raising an error after Swift returns a failure.
 */
static void
score_rows(const CachedModel *model, const RowArrays *rows, float *scores)
{
	char		message[MESSAGE_SIZE];
	int32		status;

	message[0] = '\0';
	if (rows->seq_offsets == NULL)
		status = adpilot_model_score_shared(model->handle, rows->row_count,
											rows->cat_values, rows->cat_lengths,
											rows->num_values, rows->num_nulls,
											rows->seq_values, rows->seq_lengths,
											rows->seq_count, scores, message, MESSAGE_SIZE);
	else
		status = adpilot_model_score(model->handle, rows->row_count,
									 rows->cat_values, rows->cat_lengths,
									 rows->num_values, rows->num_nulls,
									 rows->seq_values, rows->seq_lengths, rows->seq_offsets,
									 scores, message, MESSAGE_SIZE);
	if (status != ADPILOT_SCORING_OK)
		ereport(ERROR,
				(errcode(status == ADPILOT_SCORING_SHAPE_MISMATCH ?
						 ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_INTERNAL_ERROR),
				 errmsg("could not score with model \"%s\"", model->model_id),
				 errdetail("%s", message)));
}

/*
 * adpilot_score
 *		adpilot.score(dataset, cat_values, num_values, seq_values) returns the pCTR of one
 *		request-ad pair under the data set's champion model.
 */
Datum
adpilot_score(PG_FUNCTION_ARGS)
{
	char	   *dataset = argument_text(fcinfo, 0, "dataset");
	ArrayArgument cat = argument_array(fcinfo, 1, "cat_values", TEXTOID);
	ArrayArgument num = argument_array(fcinfo, 2, "num_values", FLOAT8OID);
	ArrayArgument seq = argument_array(fcinfo, 3, "seq_values", TEXTOID);
	CachedModel *model;
	RowArrays	rows;
	float		score;

	CHECK_FOR_INTERRUPTS();
	model = champion_model(fcinfo, dataset);
	check_length(&cat, 1, model->shape[ADPILOT_SHAPE_CATEGORICAL], false, model);
	check_length(&num, 1, model->shape[ADPILOT_SHAPE_NUMERIC], false, model);
	if (seq.ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seq_values must have one dimension, got %d", seq.ndim),
				 errhint("Pass the request's behaviour values as one flat list, item by item; "
						 "adpilot.score_candidates takes one list per candidate.")));
	check_sequence(&seq, 1, model);

	rows = fill_rows(&cat, &num, &seq, 0, 1, model);
	score_rows(model, &rows, &score);
	PG_RETURN_FLOAT4(score);
}

/*
 * adpilot_score_candidates
 *		adpilot.score_candidates(dataset, ad_ids, cat_values, num_values, seq_values) returns
 *		(ad_id, score) for each candidate ad of one request, in the order of ad_ids.
 *
 * cat_values and num_values have one row per candidate; seq_values is the request's
 * behaviour list, shared by every candidate, or one row per candidate.
 */
Datum
adpilot_score_candidates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dataset = argument_text(fcinfo, 0, "dataset");
	ArrayArgument ads = argument_array(fcinfo, 1, "ad_ids", TEXTOID);
	ArrayArgument cat = argument_array(fcinfo, 2, "cat_values", TEXTOID);
	ArrayArgument num = argument_array(fcinfo, 3, "num_values", FLOAT8OID);
	ArrayArgument seq = argument_array(fcinfo, 4, "seq_values", TEXTOID);
	CachedModel *model;
	int64		count = ads.count;
	float	   *scores;

	if (ads.ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ad_ids must have one dimension, got %d", ads.ndim),
				 errhint("Pass the candidate ads as a flat text[], such as ARRAY['ad-1', "
						 "'ad-2'].")));
	for (int64 i = 0; i < count; i++)
		if (ads.nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("ad_ids must not contain nulls"),
					 errdetail("Element %lld is null.", (long long) i + 1)));

	/*
	 * InitMaterializedSRF allocates in the query's memory. Without MAT_SRF_USE_EXPECTED_DESC it
	 * looks the result type up, and what that look-up allocates stays until the statement ends:
	 * 500 to 700 bytes of backend RSS a call, measured on PostgreSQL 15, when a statement calls
	 * score_candidates once per request. The caller's expected descriptor is copied instead, and
	 * the executor frees that copy after each call.
	 */
	InitMaterializedSRF(fcinfo,
						rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
						rsinfo->expectedDesc != NULL ? MAT_SRF_USE_EXPECTED_DESC : 0);
	/* Looked up even for no candidates, so a misspelt data set fails on every call. */
	model = champion_model(fcinfo, dataset);
	if (count == 0)
	{
		check_no_rows(&cat);
		check_no_rows(&num);
		/* A request's shared behaviour list stays valid when no candidate is left. */
		if (seq.ndim <= 1)
			check_sequence(&seq, 0, model);
		else
			check_no_rows(&seq);
		PG_RETURN_NULL();
	}

	check_length(&cat, count, model->shape[ADPILOT_SHAPE_CATEGORICAL], true, model);
	check_length(&num, count, model->shape[ADPILOT_SHAPE_NUMERIC], true, model);
	check_sequence(&seq, count, model);

	scores = palloc(sizeof(float) * count);
	for (int64 start = 0; start < count; start += CANDIDATE_CHUNK)
	{
		int64		chunk = Min(CANDIDATE_CHUNK, count - start);
		MemoryContext chunk_context = AllocSetContextCreate(CurrentMemoryContext,
															"adpilot candidate chunk",
															ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(chunk_context);
		RowArrays	rows;

		CHECK_FOR_INTERRUPTS();
		rows = fill_rows(&cat, &num, &seq, start, chunk, model);
		score_rows(model, &rows, scores + start);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(chunk_context);
	}

	for (int64 i = 0; i < count; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ads.values[i];
		values[1] = Float4GetDatum(scores[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
