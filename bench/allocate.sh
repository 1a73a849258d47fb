#!/usr/bin/env bash
# Compares AdPilot's allocator with SciPy's HiGHS linear-program solver on the same synthetic
# 1,000-campaign problems (plain, and with minimums, maximums and two priority tiers), then times
# planning 10,000 campaigns x 24 hours.
set -euo pipefail
cd "$(dirname "$0")/.."

adpilot=.build/release/adpilot
python=bench/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; allocator on 1 thread"
for seed in 1 2 3; do
  for kind in plain constrained; do
    flag=()
    [ "$kind" = constrained ] && flag=(--constrained)
    problem="$work/problem-$seed-$kind.json"
    ours=$("$adpilot" bench allocate --campaigns 1000 --seed "$seed" "${flag[@]}" \
      --problem-out "$problem" | tail -n 1)
    peer=$("$python" bench/highs_allocate.py "$problem" | tr '\n' ' ')
    echo "allocate 1000 $kind seed=$seed: adpilot $ours; highs $peer"
  done
done
echo "allocate 10000: $("$adpilot" bench allocate --campaigns 10000 | tail -n 1)"
