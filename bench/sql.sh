#!/usr/bin/env bash
# Times scoring inside PostgreSQL with the adpilot extension beside `adpilot score` on the same
# rows and beside the PyTorch peer's inference of the same model, and the SQL round trip of
# scoring 100 candidate ads. Builds nothing: it needs .build/release/adpilot and the extension
# installed in the server (`make install-extension`, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

adpilot=${ADPILOT:-.build/release/adpilot}
python=${PYTHON:-bench/.venv/bin/python}
rows=${ROWS:-1000000}
requests=${REQUESTS:-10000}
threads=${THREADS:-2}
steps=${STEPS:-20}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; rows=$rows" \
  "requests=$requests; pytorch threads=$threads steps=$steps batch=1024"

if ! "$adpilot" db status >/dev/null 2>&1; then
  "$adpilot" db start
fi
output=$("$adpilot" bench sql --rows "$rows" --requests "$requests")
peer=$("$python" bench/torch_din.py score --threads "$threads" --steps "$steps" |
  tail -n 1 | sed -n 's/^samples_per_s=//p')

last=$(echo "$output" | tail -n 1)
field() { echo "$last" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "$output" | head -n -1
echo "scoring rows/s: sql=$(field sql_rows_per_s) adpilot_score=$(field score_rows_per_s)" \
  "pytorch=$peer; sql/adpilot_score=$(field ratio)"
echo "score_candidates, 100 ads: p50_ms=$(field p50_ms) p99_ms=$(field p99_ms)"
echo "$last"
