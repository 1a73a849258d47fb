/*
 * The C interface of the CTRScoring Swift module (Sources/CTRScoring), called by adpilot.c.
 * Every function returns a status and writes any error message into the caller's buffer. None
 * of them traps on bad input, starts a thread or keeps a pointer it was given after returning.
 */
#ifndef ADPILOT_SCORING_H
#define ADPILOT_SCORING_H

#include <stdint.h>

/* Status codes of the functions below. */
#define ADPILOT_SCORING_OK 0
/* The model bytes are not a readable AdPilot CTR model file. */
#define ADPILOT_SCORING_INVALID_MODEL 1
/* The input's shape does not match the model's feature spec. */
#define ADPILOT_SCORING_SHAPE_MISMATCH 2
/* A caller error: a null handle or buffer, or a negative count. */
#define ADPILOT_SCORING_INVALID_ARGUMENT 3

/* Indexes into the shape array written by adpilot_model_get_shape. */
#define ADPILOT_SHAPE_CATEGORICAL 0		/* categorical values per row */
#define ADPILOT_SHAPE_NUMERIC 1			/* numeric values per row */
#define ADPILOT_SHAPE_SUBFIELDS 2		/* sequence values per behaviour item; 0: none */
#define ADPILOT_SHAPE_MAX_SEQUENCE 3	/* behaviour items kept per row */
#define ADPILOT_SHAPE_COUNT 4

/*
 * Loads a model file from `length` bytes (copied) into `*handle`. On failure stores NULL in
 * `*handle`, writes a NUL-terminated message of at most `message_capacity` bytes and returns
 * a nonzero status.
 */
extern int32_t adpilot_model_load(const uint8_t *bytes, int64_t length, void **handle,
								  char *message, int64_t message_capacity);

/* Writes the ADPILOT_SHAPE_COUNT input sizes of a loaded model into `shape`. */
extern int32_t adpilot_model_get_shape(void *handle, int64_t *shape);

/*
 * Scores `row_count` rows into `scores`, checking every length against the spec first, and
 * writes nothing into `scores` when it fails.
 *
 * Arrays are row-major. cat_values has row_count * categorical entries and num_values and
 * num_nulls row_count * numeric entries (num_nulls[i] = 1 marks a missing value). The sequence
 * values of row r are seq_values[seq_offsets[r] ..< seq_offsets[r + 1]], item-major, so their
 * count is a multiple of the sub-field count. A NULL string pointer is a missing value; lengths
 * are UTF-8 byte counts without a terminator.
 */
extern int32_t adpilot_model_score(void *handle, int64_t row_count,
								   const char *const *cat_values, const int32_t *cat_lengths,
								   const double *num_values, const uint8_t *num_nulls,
								   const char *const *seq_values, const int32_t *seq_lengths,
								   const int64_t *seq_offsets, float *scores,
								   char *message, int64_t message_capacity);

/*
 * Scores `row_count` rows that share one behaviour list, encoding the list once: as
 * adpilot_model_score, with the seq_count values of seq_values (item-major) standing for every
 * row's list in place of per-row offsets.
 */
extern int32_t adpilot_model_score_shared(void *handle, int64_t row_count,
										  const char *const *cat_values,
										  const int32_t *cat_lengths,
										  const double *num_values, const uint8_t *num_nulls,
										  const char *const *seq_values,
										  const int32_t *seq_lengths, int64_t seq_count,
										  float *scores, char *message,
										  int64_t message_capacity);

/* Releases a model loaded by adpilot_model_load; NULL is ignored. */
extern void adpilot_model_free(void *handle);

#endif							/* ADPILOT_SCORING_H */
