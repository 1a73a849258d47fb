#!/usr/bin/env bash
# Measures how fast training loads its rows (PostgreSQL to encoded, shuffled batches, cache
# writes included) against a bare binary COPY of the same rows, and prints both with their ratio.
# Generates a synthetic data set first when the database has no rows for it.
set -euo pipefail
cd "$(dirname "$0")/.."

adpilot=${ADPILOT:-.build/release/adpilot}
dataset=${DATASET:-synthetic}
days=${LOAD_DAYS:-5}
per_day=${LOAD_IMPRESSIONS_PER_DAY:-100000}
repeats=${REPEATS:-3}

if "$adpilot" summary --dataset "$dataset" | grep -q '^impressions: 0 rows'; then
  if [ "$dataset" != synthetic ]; then
    echo "data set '$dataset' has no rows; import it first, or run with DATASET=synthetic" >&2
    exit 1
  fi
  "$adpilot" generate --days "$days" --impressions-per-day "$per_day"
fi
echo "load: data set $dataset, the fastest of $repeats runs each, $(nproc) cores"
"$adpilot" bench load --dataset "$dataset" --repeats "$repeats"
