#!/usr/bin/env bash
# Runs AdPilot's CTR benchmarks beside their PyTorch peer in one command, on the same machine,
# thread count and batch shapes, and prints each pair with its ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${THREADS:-2}
steps=${STEPS:-20}
adpilot=.build/release/adpilot
python=bench/.venv/bin/python

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads=$threads steps=$steps batch=1024"

figure() { tail -n 1 | sed -n 's/^samples_per_s=//p'; }

# PyTorch 2.15 with 2 threads on a 2-core development machine ran this model at about 4,500
# samples/s in training and 48,600 in inference. Each line prints that figure beside this run's,
# so a peer that runs far slower than it shows.
declare -A reference=([train]=4500 [score]=48600)

declare -A peers
for mode in train score; do
  ours_output=$("$adpilot" bench "$mode" --threads "$threads" --steps "$steps")
  ours=$(echo "$ours_output" | figure)
  if [ "$mode" = train ]; then
    multiply_adds=$(echo "$ours_output" | sed -n 's/^multiply_adds_per_sample=//p')
  fi
  peer_output=$("$python" bench/torch_din.py "$mode" --threads "$threads" --steps "$steps")
  peer=$(echo "$peer_output" | figure)
  peers[$mode]=$peer
  version=$(echo "$peer_output" | sed -n 's/^torch=\([^ ]*\).*/\1/p')
  ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
  echo "$mode: adpilot samples_per_s=$ours pytorch samples_per_s=$peer ratio=$ratio" \
    "(torch $version; reference: PyTorch 2.15, 2 threads, 2-core machine: ${reference[$mode]})"
done

# The dense kernel on the model's own shapes and on a square one, one thread on each side.
# numpy runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so OpenBLAS picks its own kernel.
# Each side runs three times, taking turns, and keeps its best figure, so that a slow moment of
# the VM, which a run of a few milliseconds can fall into, does not decide the ratio.
gflops() { tail -n 1 | sed -n 's/^gflops=//p'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; }
for shape in 51200x128x80 1024x288x200 2048x2048x2048; do
  ours=0
  peer=0
  for _ in 1 2 3; do
    ours=$(best "$ours" "$("$adpilot" bench gemm --shape "$shape" --steps 5 | gflops)")
    peer_output=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      "$python" bench/gemm.py --shape "$shape" --threads 1 --steps 5)
    peer=$(best "$peer" "$(echo "$peer_output" | gflops)")
  done
  kernel=$(echo "$peer_output" | head -n 1)
  ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
  echo "gemm $shape: adpilot gflops=$ours numpy gflops=$peer ratio=$ratio ($kernel)"
  square=$ours
done

# What the kernels allow: a training step made of nothing but its dense layers' products, each
# thread at the 2048-square rate above, against this run's PyTorch training figure.
awk -v m="$multiply_adds" -v g="$square" -v t="$threads" -v p="${peers[train]}" 'BEGIN {
  ceiling = t * g * 1e9 / (2 * m)
  printf "ceiling: %d multiply-adds per training sample at %s gflops on each of %d threads " \
    "= %d samples_per_s, %.2f times pytorch\n", m, g, t, ceiling, ceiling / p
}'
