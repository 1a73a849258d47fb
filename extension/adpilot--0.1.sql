-- adpilot extension 0.1: scoring functions over the AdPilot model registry.
-- The functions read adpilot.models, adpilot.model_aliases and adpilot.datasets, which
-- AdPilot's migrations create; they write nothing.

\echo Use "CREATE EXTENSION adpilot" to load this file. \quit

CREATE FUNCTION adpilot.score(
    dataset text,
    cat_values text[],
    num_values float8[],
    seq_values text[]
)
RETURNS real
AS 'MODULE_PATHNAME', 'adpilot_score'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION adpilot.score(text, text[], float8[], text[]) IS
'pCTR of one request-ad pair under the champion model of a data set';

CREATE FUNCTION adpilot.score_candidates(
    dataset text,
    ad_ids text[],
    cat_values text[],
    num_values float8[],
    seq_values text[]
)
RETURNS TABLE (ad_id text, score real)
AS 'MODULE_PATHNAME', 'adpilot_score_candidates'
LANGUAGE C STABLE PARALLEL SAFE
ROWS 100;

COMMENT ON FUNCTION adpilot.score_candidates(text, text[], text[], float8[], text[]) IS
'(ad_id, pCTR) of each candidate ad of one request under the champion model of a data set';
