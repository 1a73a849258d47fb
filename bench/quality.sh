#!/usr/bin/env bash
# Runs the CTR quality benchmark and prints one table of AUCs with 95% DeLong intervals. For each
# data set (and Criteo split seed) it loads the rows into the embedded database, trains AdPilot's
# attention model and logistic baseline, and trains the peers of bench/quality.py on the same
# rows. With the synthetic data set it also prints the synthetic acceptance check.
#
# Usage: bench/quality.sh [criteo] [ipinyou] [synthetic]   (default: all three)
# Environment: THREADS (2), SEEDS (Criteo split seeds, "0 1 2 3 4"), DATA (../shared/data),
# ADPILOT (.build/release/adpilot), PYTHON (bench/.venv/bin/python),
# SYNTHETIC_DAYS (9), SYNTHETIC_PER_DAY (117000) and SYNTHETIC_VALIDATION_DAYS (2): about
# 1,005,000 impressions, validated on the last two days (about 236,000), whose weekdays also
# appear in the seven training days.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${THREADS:-2}
seeds=${SEEDS:-0 1 2 3 4}
data=${DATA:-../shared/data}
adpilot=${ADPILOT:-.build/release/adpilot}
python=${PYTHON:-bench/.venv/bin/python}
synthetic_days=${SYNTHETIC_DAYS:-9}
synthetic_per_day=${SYNTHETIC_PER_DAY:-117000}
synthetic_validation_days=${SYNTHETIC_VALIDATION_DAYS:-2}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(criteo ipinyou synthetic)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
table="$work/table.tsv"
started=$(date +%s)

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads=$threads"
"$adpilot" db start >/dev/null
url=$("$adpilot" db url)

# Appends AdPilot's two new models from `adpilot train` output: the first two rows under the
# "model" header. A previous champion, when printed, comes third.
adpilot_rows() { # label seed train-output
  awk -v label="$1" -v seed="$2" '
    /^model / { inside = 1; next }
    /^champion:/ { inside = 0 }
    inside && count < 2 {
      gsub(/[\[\],]/, "", $4); gsub(/[\[\],]/, "", $5)
      printf "%s\t%s\tAdPilot %s\t%s\t%s\t%s\t%s\n", label, seed, $2, $3, $4, $5, $9
      count++
    }' "$3" >>"$table"
}

# Appends the peers' rows from quality.py's JSON.
peer_rows() { # label seed json
  "$python" - "$1" "$2" "$3" >>"$table" <<'PY'
import json, sys
label, seed, path = sys.argv[1:4]
names = {"lr": "hashed LR (scikit-learn)", "lightgbm": "LightGBM", "deepfm": "DeepFM (DeepCTR-Torch)",
         "din": "DIN (DeepCTR-Torch)", "truth": "true click probability"}
for r in json.load(open(path))["results"]:
    calibration = r["prediction_sum"] / r["clicks"] if r["clicks"] else float("nan")
    print(f"{label}\t{seed}\t{names[r['model']]}\t{r['auc']:.4f}\t{r['lower']:.3f}\t"
          f"{r['upper']:.3f}\t{calibration:.4f}")
PY
}

run_one() { # dataset label seed models [validation-days]
  local dataset=$1 label=$2 seed=$3 models=$4 days=${5:-1}
  "$adpilot" train --dataset "$dataset" --seed "$seed" --threads "$threads" \
    --validation-days "$days" >"$work/train-$label-$seed.txt" 2>"$work/train-$label-$seed.log"
  adpilot_rows "$label" "$seed" "$work/train-$label-$seed.txt"
  "$python" bench/quality.py --dataset "$dataset" --conninfo "$url" --threads "$threads" \
    --validation-days "$days" --models "$models" --json "$work/peers-$label-$seed.json" \
    2>"$work/peers-$label-$seed.log" >&2
  peer_rows "$label" "$seed" "$work/peers-$label-$seed.json"
  echo "$label seed $seed done after $(($(date +%s) - started)) s" >&2
}

for set in "${sets[@]}"; do
  case "$set" in
  criteo)
    for seed in $seeds; do
      "$adpilot" import criteo "$data/criteo-dac/criteo_dac_first10k.csv" --seed "$seed" >/dev/null
      run_one criteo criteo "$seed" lr,lightgbm,deepfm
    done
    ;;
  ipinyou)
    "$adpilot" import ipinyou --split train "$data/ipinyou/campaign2997_ctr_train.csv" >/dev/null
    "$adpilot" import ipinyou --split test "$data/ipinyou/campaign2997_ctr_test.csv" >/dev/null
    run_one ipinyou_2997 ipinyou_2997 0 lr,lightgbm,deepfm
    ;;
  synthetic)
    "$adpilot" generate --days "$synthetic_days" --impressions-per-day "$synthetic_per_day" \
      >"$work/generate.txt"
    run_one synthetic synthetic 0 lr,lightgbm,deepfm,din,truth "$synthetic_validation_days"
    ;;
  *)
    echo "bench/quality.sh: unknown data set '$set': use criteo, ipinyou or synthetic" >&2
    exit 2
    ;;
  esac
done

echo
printf "%-14s %-4s %-28s %-7s %-16s %s\n" "data" "seed" "model" "AUC" "95% CI" "calib"
awk -F '\t' '{ printf "%-14s %-4s %-28s %-7s [%s, %s]   %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$table"

# Mean AUC over the Criteo split seeds, per model.
if grep -q '^criteo' "$table"; then
  echo
  echo "criteo, mean AUC over seeds ($seeds) +/- standard deviation:"
  awk -F '\t' '$1 == "criteo" { n[$3]++; s[$3] += $4; q[$3] += $4 * $4 }
    END { for (m in n) { mean = s[m] / n[m]; var = n[m] > 1 ? (q[m] - n[m] * mean * mean) / (n[m] - 1) : 0
          printf "  %-28s %.4f +/- %.4f\n", m, mean, sqrt(var > 0 ? var : 0) } }' "$table" | sort
fi

# The synthetic check: AdPilot's attention AUC within 0.005 of the true probabilities' AUC,
# its logistic baseline at least 0.02 below, and the attention model's prediction sum within
# 2% of the true probabilities' sum on the validation rows.
if grep -q '^synthetic' "$table"; then
  "$python" - "$table" "$work/peers-synthetic-0.json" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.startswith("synthetic")]
ours = {r[2]: r for r in rows if r[2].startswith("AdPilot")}
attention = next(r for name, r in ours.items() if "logistic" not in name)
logistic = ours["AdPilot logistic"]
truth = next(r for r in json.load(open(sys.argv[2]))["results"] if r["model"] == "truth")
true_auc = truth["auc"]
prediction_sum = float(attention[6]) * truth["clicks"]
checks = [
    (f"attention AUC {float(attention[3]):.4f} within 0.005 of true AUC {true_auc:.4f}",
     true_auc - float(attention[3]) <= 0.005),
    (f"logistic AUC {float(logistic[3]):.4f} at least 0.02 below true AUC {true_auc:.4f}",
     true_auc - float(logistic[3]) >= 0.02),
    (f"attention prediction sum {prediction_sum:.1f} within 2% of true sum "
     f"{truth['prediction_sum']:.1f} ({100 * (prediction_sum / truth['prediction_sum'] - 1):+.2f}%)",
     abs(prediction_sum / truth["prediction_sum"] - 1) <= 0.02),
]
print(f"\nsynthetic check ({truth['rows']} validation rows, {int(truth['clicks'])} clicks):")
for text, passed in checks:
    print(f"  {'pass' if passed else 'FAIL'}: {text}")
PY
fi
echo
echo "quality run took $(($(date +%s) - started)) s"
