#!/usr/bin/env python3
# Peer CTR models for the quality benchmark: a hashed logistic regression, LightGBM and
# DeepCTR-Torch (DeepFM, and DIN when the data set logs behaviour sequences), trained and scored
# on the very rows `adpilot train` uses, read from PostgreSQL. It trains nothing of AdPilot's.

import argparse
import contextlib
import csv
import json
import math
import os
import subprocess
import sys
import time

# OpenMP threads that spin while waiting slowed DeepFM training about tenfold on a 2-core machine
# shared with other jobs; passive waiting gives the cores back. It must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

# The rows `adpilot train` reads (Sources/AdPilot/Training/TrainingPipeline.swift,
# trainingWindows): a 'split' data set trains on split 'train' and validates on split 'test';
# a 'time' data set validates on the last logged UTC days (`--validation-days`, default 1) and
# trains on the days before them.
EXPORT_SQL = r"""
COPY (
  SELECT CASE WHEN d.validation = 'split' THEN (i.split = 'test')
              ELSE i.time >= (SELECT date_trunc('day', max(time), 'UTC')
                                     - (:'days'::int - 1) * interval '1 day'
                              FROM adpilot.impressions WHERE dataset = :'ds') END AS valid,
         i.click, array_to_string(i.cat_values, E'\x1f', '') AS cat,
         array_to_string(i.num_values, ' ', 'nan') AS num,
         array_to_string(i.seq_values, E'\x1f', '') AS seq, i.true_pctr
  FROM adpilot.impressions i JOIN adpilot.datasets d ON d.name = i.dataset
  WHERE i.dataset = :'ds'
) TO STDOUT WITH (FORMAT csv, HEADER)
"""

SPEC_SQL = "SELECT feature_spec FROM adpilot.datasets WHERE name = :'ds'"


def psql(conninfo, dataset, sql, validation_days=1):
    """Runs one statement through psql with the data set name and the number of validation days
    as psql variables."""
    result = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", f"ds={dataset}",
         "-v", f"days={validation_days}", "-d", conninfo, "-f", "-"],
        input=sql, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"quality.py: psql failed for data set '{dataset}': {result.stderr.strip()}")
    return result.stdout


class Rows:
    """One data set's rows, each marked as a training or a validation row."""

    def __init__(self, conninfo, dataset, validation_days=1):
        spec_text = psql(conninfo, dataset, SPEC_SQL).strip()
        if not spec_text:
            sys.exit(f"quality.py: data set '{dataset}' is not loaded; import or generate it first")
        self.spec = json.loads(spec_text)
        self.cat_names = [f["name"] for f in self.spec.get("categorical", [])]
        self.num_names = [f["name"] for f in self.spec.get("numeric", [])]
        self.seq_fields = self.spec.get("sequence", [])
        self.max_len = int(self.spec.get("maxSequenceLength", 0) or 0)
        reader = csv.reader(psql(conninfo, dataset, EXPORT_SQL, validation_days).splitlines())
        next(reader)
        valid, clicks, cats, nums, seqs, truth = [], [], [], [], [], []
        for row in reader:
            valid.append(row[0] == "t")
            clicks.append(int(row[1]))
            cats.append(row[2].split("\x1f"))
            nums.append([float(v) for v in row[3].split()])
            seqs.append(row[4].split("\x1f") if row[4] else [])
            truth.append(float(row[5]) if row[5] else math.nan)
        if not clicks:
            sys.exit(f"quality.py: data set '{dataset}' has no impressions")
        self.valid = np.array(valid)
        self.train = ~self.valid
        self.y = np.array(clicks, dtype=np.float32)
        self.cats = cats
        self.nums = np.array(nums, dtype=np.float64).reshape(len(clicks), len(self.num_names))
        self.seqs = seqs
        self.truth = np.array(truth)

    def has_sequences(self):
        return bool(self.seq_fields) and self.max_len > 0


def midranks(values):
    """Returns 1-based ranks with ties given their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    starts = ends - counts
    return ((starts + ends + 1) / 2)[inverse]


def delong_auc(labels, scores):
    """Returns (AUC, lower, upper): AUC with its 95% DeLong interval (DeLong, DeLong and
    Clarke-Pearson 1988), computed with midranks as in Sun and Xu 2014."""
    labels = np.asarray(labels) > 0.5
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = scores[labels], scores[~labels]
    m, n = len(positives), len(negatives)
    if m == 0 or n == 0:
        return math.nan, math.nan, math.nan
    all_ranks = midranks(np.concatenate([positives, negatives]))
    pos_ranks = midranks(positives)
    neg_ranks = midranks(negatives)
    auc = (all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1 - (all_ranks[m:] - neg_ranks) / m
    variance = 0.0
    if m > 1:
        variance += v10.var(ddof=1) / m
    if n > 1:
        variance += v01.var(ddof=1) / n
    half = 1.959964 * math.sqrt(max(variance, 0))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def log_loss(labels, predictions):
    p = np.clip(np.asarray(predictions, dtype=np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def numeric_bucket(value):
    """Return the usual Criteo bucket of a count: the value up to 2, else int(log(x)^2)."""
    if math.isnan(value):
        return "nan"
    if value > 2:
        return str(int(math.log(value) ** 2))
    return str(int(value))


def hashed_lr(rows, threads, c=1.0):
    """Return the validation predictions of a logistic regression (scikit-learn defaults: L2,
    lbfgs) on 2^18 hashed one-hot features, one per categorical value, numeric bucket and
    behaviour item value. `c` is scikit-learn's C, the inverse of the L2 strength (default 1)."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import LogisticRegression

    width = max(len(rows.seq_fields), 1)

    def tokens(index):
        out = [f"c{i}={v}" for i, v in enumerate(rows.cats[index])]
        out += [f"n{i}={numeric_bucket(v)}" for i, v in enumerate(rows.nums[index])]
        out += [f"s{k % width}={v}" for k, v in enumerate(rows.seqs[index]) if v is not None]
        return out

    hasher = FeatureHasher(n_features=2**18, input_type="string", alternate_sign=False)
    matrix = hasher.transform(tokens(i) for i in range(len(rows.y))).tocsr()
    model = LogisticRegression(C=c)
    model.fit(matrix[rows.train], rows.y[rows.train])
    settings = "sklearn defaults" if c == 1.0 else f"sklearn defaults but C = {c}"
    return model.predict_proba(matrix[rows.valid])[:, 1], f"{settings}, 2^18 hashes"


def encode_categories(rows):
    """Integer codes per categorical field, 1-based over the training rows' values; values
    unseen in training get 0. Returns the codes and each field's vocabulary."""
    codes = np.zeros((len(rows.y), len(rows.cat_names)), dtype=np.int64)
    vocabularies = []
    train_index = np.flatnonzero(rows.train)
    for field in range(len(rows.cat_names)):
        vocabulary = {}
        for i in train_index:
            value = rows.cats[i][field]
            if value not in vocabulary:
                vocabulary[value] = len(vocabulary) + 1
        for i in range(len(rows.y)):
            codes[i, field] = vocabulary.get(rows.cats[i][field], 0)
        vocabularies.append(vocabulary)
    return codes, vocabularies


def lightgbm_model(rows, threads, codes):
    """Train LightGBM with its defaults (31 leaves, learning rate 0.1) on the categorical fields
    as categorical features and the numbers as they are. It runs up to 1000 rounds and stops 20
    rounds after the best validation log loss. Behaviour sequences are not used."""
    import lightgbm

    features = np.concatenate([codes.astype(np.float64), rows.nums], axis=1)
    features[:, : codes.shape[1]][codes == 0] = np.nan
    categorical = list(range(codes.shape[1]))
    model = lightgbm.LGBMClassifier(n_estimators=1000, n_jobs=threads, verbose=-1, random_state=0)
    model.fit(
        features[rows.train], rows.y[rows.train],
        eval_X=features[rows.valid], eval_y=rows.y[rows.valid], eval_metric="binary_logloss",
        categorical_feature=categorical,
        callbacks=[lightgbm.early_stopping(20, verbose=False)])
    return (model.predict_proba(features[rows.valid])[:, 1],
            f"{model.best_iteration_} rounds")


def deepctr_inputs(rows, codes, vocabularies, with_sequences):
    """Feature columns and input dictionaries for DeepCTR-Torch."""
    from deepctr_torch.inputs import DenseFeat, SparseFeat, VarLenSparseFeat

    columns, inputs = [], {}
    for field, name in enumerate(rows.cat_names):
        columns.append(SparseFeat(name, vocabulary_size=len(vocabularies[field]) + 1,
                                  embedding_dim=8))
        inputs[name] = codes[:, field]
    if rows.num_names:
        # log(1 + x) keeps the heavy-tailed counts in range; missing numbers become 0.
        nums = np.nan_to_num(np.log1p(np.maximum(rows.nums, 0)), nan=0.0)
        for field, name in enumerate(rows.num_names):
            columns.append(DenseFeat(name, 1))
            inputs[name] = nums[:, field].astype(np.float32)
    history = []
    if with_sequences:
        width = len(rows.seq_fields)
        length = np.zeros(len(rows.y), dtype=np.int64)
        for k, sequence in enumerate(rows.seq_fields):
            shared = sequence["sharesEmbeddingWith"]
            field = rows.cat_names.index(shared)
            vocabulary = vocabularies[field]
            matrix = np.zeros((len(rows.y), rows.max_len), dtype=np.int64)
            for i, values in enumerate(rows.seqs):
                items = values[k::width][: rows.max_len]
                matrix[i, : len(items)] = [vocabulary.get(v, 0) for v in items]
                length[i] = len(items)
            name = "hist_" + shared
            columns.append(VarLenSparseFeat(
                SparseFeat(name, vocabulary_size=len(vocabulary) + 1, embedding_dim=8,
                           embedding_name=shared),
                maxlen=rows.max_len, length_name="seq_length"))
            inputs[name] = matrix
            history.append(shared)
        inputs["seq_length"] = length
    return columns, inputs, history


def batch_size(training_rows):
    """Return the batch size `adpilot train` picks: the largest power of two from 256 to 1024
    that leaves at least 100 steps per epoch."""
    size = 1024
    while size > 256 and training_rows // size < 100:
        size //= 2
    return size


def deepctr_model(rows, threads, codes, vocabularies, kind, max_epochs=4, patience=1):
    """Train DeepCTR-Torch DeepFM or DIN with the library's default layers and Adam at its fixed
    default step size. Batches and early stopping follow `adpilot train`: stop after two epochs
    without a better validation log loss and keep the best epoch's predictions. The cap is 4
    epochs, where `adpilot train` runs up to 8 with a decaying step size."""
    import torch
    from deepctr_torch.models import DIN, DeepFM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    columns, inputs, history = deepctr_inputs(rows, codes, vocabularies, kind == "DIN")
    if kind == "DIN":
        model = DIN(columns, history, device="cpu", seed=0)
    else:
        model = DeepFM(columns, columns, device="cpu", seed=0)
    model.compile("adam", "binary_crossentropy")
    train = {k: v[rows.train] for k, v in inputs.items()}
    valid = {k: v[rows.valid] for k, v in inputs.items()}
    labels = rows.y[rows.valid]
    batch = batch_size(int(rows.train.sum()))
    best, best_loss, epochs, without_gain = None, math.inf, 0, 0
    for epoch in range(max_epochs):
        with contextlib.redirect_stdout(sys.stderr):
            model.fit(train, rows.y[rows.train], batch_size=batch, epochs=1, verbose=0)
        predictions = model.predict(valid, batch_size=4096).ravel()
        loss = log_loss(labels, predictions)
        if loss < best_loss:
            best, best_loss, epochs, without_gain = predictions, loss, epoch + 1, 0
        else:
            without_gain += 1
            if without_gain > patience:
                break
    return best, f"batch {batch}, best of {epoch + 1} epochs: {epochs}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--conninfo", required=True, help="libpq conninfo (`adpilot db url`)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validation-days", type=int, default=1,
                        help="trailing days validated on, for a data set without a 'test' split "
                             "(as `adpilot train --validation-days`)")
    parser.add_argument("--models", default="lr,lightgbm,deepfm,din,truth",
                        help="comma-separated: lr, lightgbm, deepfm, din, truth")
    parser.add_argument("--lr-c", type=float, default=1.0,
                        help="C of the hashed LR, the inverse of its L2 strength (default 1, "
                             "scikit-learn's)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    started = time.time()
    if args.validation_days < 1:
        sys.exit(f"quality.py: --validation-days must be 1 or more, got {args.validation_days}")
    if not args.lr_c > 0:
        sys.exit(f"quality.py: --lr-c must be above 0, got {args.lr_c}; scikit-learn's default is 1")
    rows = Rows(args.conninfo, args.dataset, args.validation_days)
    labels = rows.y[rows.valid]
    print(f"{args.dataset}: {int(rows.train.sum())} training rows, {len(labels)} validation rows, "
          f"{int(labels.sum())} validation clicks (read in {time.time() - started:.0f} s)",
          file=sys.stderr)
    requested = args.models.split(",")
    codes, vocabularies = encode_categories(rows) if set(requested) - {"lr", "truth"} else (None, None)
    results = []
    for name in requested:
        started = time.time()
        if name == "lr":
            predictions, note = hashed_lr(rows, args.threads, args.lr_c)
        elif name == "lightgbm":
            predictions, note = lightgbm_model(rows, args.threads, codes)
        elif name == "deepfm":
            predictions, note = deepctr_model(rows, args.threads, codes, vocabularies, "DeepFM")
        elif name == "din":
            if not rows.has_sequences():
                continue
            predictions, note = deepctr_model(rows, args.threads, codes, vocabularies, "DIN")
        elif name == "truth":
            predictions = rows.truth[rows.valid]
            if np.isnan(predictions).any():
                continue
            note = "true_pctr column"
        else:
            sys.exit(f"quality.py: unknown model '{name}': use lr, lightgbm, deepfm, din or truth")
        auc, lower, upper = delong_auc(labels, predictions)
        result = {
            "model": name, "auc": auc, "lower": lower, "upper": upper,
            "log_loss": log_loss(labels, predictions),
            "prediction_sum": float(np.sum(predictions)), "clicks": float(labels.sum()),
            "rows": int(len(labels)), "seconds": round(time.time() - started, 1), "note": note,
        }
        results.append(result)
        print(f"{name:10s} AUC {auc:.4f} [{lower:.3f}, {upper:.3f}] logloss {result['log_loss']:.4f} "
              f"sum(p) {result['prediction_sum']:.1f} clicks {int(result['clicks'])} "
              f"({result['seconds']} s; {note})", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"dataset": args.dataset, "results": results}, out, indent=1)


if __name__ == "__main__":
    main()
