#!/usr/bin/env python3
# Checks bench/quality.py's AUC interval, count buckets and batch sizes against hand counts and a
# pairwise DeLong computation. Run: bench/.venv/bin/python bench/quality_test.py (no database).

import math
import os
import sys
import types
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality  # noqa: E402


def pairwise_delong(labels, scores):
    """Return AUC and its DeLong variance from the O(m n) pair comparisons."""
    positives = [s for s, y in zip(scores, labels) if y == 1]
    negatives = [s for s, y in zip(scores, labels) if y == 0]

    def psi(x, y):
        if x > y:
            return 1.0
        if x == y:
            return 0.5
        return 0.0

    v10 = [sum(psi(x, y) for y in negatives) / len(negatives) for x in positives]
    v01 = [sum(psi(x, y) for x in positives) / len(positives) for y in negatives]
    auc = sum(v10) / len(v10)
    variance = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    return auc, variance


class DeLongTests(unittest.TestCase):
    def test_auc_matches_hand_count_with_tie(self):
        # Positives 0.8 and 0.4 against negatives 0.3, 0.4 and 0.1: five of the six pairs are
        # ordered and the tie 0.4 = 0.4 counts one half.
        auc, _, _ = quality.delong_auc([1, 1, 0, 0, 0], [0.8, 0.4, 0.3, 0.4, 0.1])
        self.assertAlmostEqual(auc, 5.5 / 6, places=12)

    def test_interval_matches_pairwise_variance(self):
        generator = np.random.default_rng(7)
        labels = (generator.random(300) < 0.3).astype(int)
        scores = np.round(generator.random(300) + 0.4 * labels, 2)
        auc, lower, upper = quality.delong_auc(labels, scores)
        expected_auc, variance = pairwise_delong(labels.tolist(), scores.tolist())
        half = 1.959964 * math.sqrt(variance)
        self.assertAlmostEqual(auc, expected_auc, places=12)
        self.assertAlmostEqual(lower, expected_auc - half, places=12)
        self.assertAlmostEqual(upper, expected_auc + half, places=12)

    def test_one_class_gives_nan(self):
        auc, lower, upper = quality.delong_auc([0, 0, 0], [0.1, 0.2, 0.3])
        self.assertTrue(math.isnan(auc))
        self.assertTrue(math.isnan(lower))
        self.assertTrue(math.isnan(upper))


class FeatureTests(unittest.TestCase):
    def test_numeric_bucket(self):
        self.assertEqual(quality.numeric_bucket(math.nan), "nan")
        self.assertEqual(quality.numeric_bucket(-1.0), "-1")
        self.assertEqual(quality.numeric_bucket(2.0), "2")
        # log(100)^2 = 21.2
        self.assertEqual(quality.numeric_bucket(100.0), "21")

    def test_batch_size_follows_adpilot_train(self):
        # The Criteo, iPinYou and synthetic training row counts of the benchmark.
        self.assertEqual(quality.batch_size(8_064), 256)
        self.assertEqual(quality.batch_size(26_773), 256)
        self.assertEqual(quality.batch_size(60_000), 512)
        self.assertEqual(quality.batch_size(817_135), 1024)


class HashedLRTests(unittest.TestCase):
    @staticmethod
    def rows():
        """Return eight training rows where value "a" always clicks and "b" never does, then two
        validation rows, one of each value."""
        labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
        values = ["a"] * 4 + ["b"] * 4 + ["a", "b"]
        return types.SimpleNamespace(
            y=np.array(labels, dtype=np.float32), cats=[[v] for v in values],
            nums=np.zeros((10, 0)), seqs=[[] for _ in values], seq_fields=[],
            train=np.array([True] * 8 + [False] * 2), valid=np.array([False] * 8 + [True] * 2))

    def test_default_c_separates_values(self):
        predictions, note = quality.hashed_lr(self.rows(), threads=1)
        self.assertGreater(predictions[0], 0.7)
        # The two values are mirror images, so the intercept is 0 and the predictions sum to 1.
        self.assertAlmostEqual(predictions[0] + predictions[1], 1.0, places=5)
        self.assertEqual(note, "sklearn defaults, 2^18 hashes")

    def test_tiny_c_predicts_base_rate(self):
        # With almost infinite L2 the weights vanish and the free intercept fits the 4/8 rate.
        predictions, note = quality.hashed_lr(self.rows(), threads=1, c=1e-9)
        self.assertAlmostEqual(predictions[0], 0.5, places=5)
        self.assertAlmostEqual(predictions[1], 0.5, places=5)
        self.assertEqual(note, "sklearn defaults but C = 1e-09, 2^18 hashes")


if __name__ == "__main__":
    unittest.main()
