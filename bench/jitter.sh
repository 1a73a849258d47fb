#!/usr/bin/env bash
# Builds and runs bench/jitter.c: the spread of a fixed CPU-bound loop on this machine, to read
# beside the latency percentiles of bench/sql.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(mktemp)
trap 'rm -f "$binary"' EXIT
cc -O2 -o "$binary" bench/jitter.c
"$binary"
