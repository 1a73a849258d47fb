"""Solves an `adpilot bench allocate --problem-out` problem with SciPy's HiGHS LP solver.

The problem splits a day's budget over campaigns to maximize expected value (clicks x value per
click). Each campaign's response curve is a sum of segments (cost in micros, expected clicks), and
each campaign has a minimum and a cap. Priority tiers are strict: every minimum is reserved first,
then each tier, highest first, is filled up to its caps from what is left. Each tier is one linear
program. The script prints HiGHS's total expected value next to AdPilot's and their relative gap.
"""

import argparse
import json
import sys
import time

import numpy as np
from scipy import sparse
from scipy.optimize import linprog


def solve_tier(campaigns, available):
    """Returns (value, spend) of the best split of `available` micros over one tier."""
    costs, values, rows = [], [], []
    minimums, caps = [], []
    for row, campaign in enumerate(campaigns):
        absorbable = sum(cost for cost, _ in campaign["segments"])
        for cost, clicks in campaign["segments"]:
            if cost <= 0:
                continue
            costs.append(cost)
            values.append(campaign["value_per_click_micros"] * clicks / cost)
            rows.append(row)
        caps.append(min(campaign["cap_micros"], absorbable))
        minimums.append(min(campaign["min_micros"], absorbable))
    count = len(costs)
    if count == 0:
        return 0.0, 0.0
    columns = np.arange(count)
    per_campaign = sparse.csr_matrix(
        (np.ones(count), (np.array(rows), columns)), shape=(len(campaigns), count))
    total = sparse.csr_matrix(np.ones((1, count)))
    # Caps and the tier's budget are <= rows, and each minimum is the row -sum <= -minimum.
    a_ub = sparse.vstack([per_campaign, -per_campaign, total]).tocsr()
    b_ub = np.concatenate([caps, [-m for m in minimums], [available]])
    result = linprog(
        c=-np.array(values), A_ub=a_ub, b_ub=b_ub,
        bounds=list(zip([0.0] * count, costs)), method="highs")
    if result.status != 0:
        sys.exit(f"highs_allocate: HiGHS failed on a tier: {result.message}")
    return -result.fun, float(np.sum(result.x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", help="JSON written by adpilot bench allocate --problem-out")
    args = parser.parse_args()
    with open(args.problem) as handle:
        problem = json.load(handle)

    campaigns = problem["campaigns"]
    reserved = sum(
        min(c["min_micros"], sum(cost for cost, _ in c["segments"])) for c in campaigns)
    left = problem["budget_micros"] - reserved
    if left < 0:
        sys.exit("highs_allocate: the minimums exceed the budget; the problem has no solution")

    started = time.perf_counter()
    value = 0.0
    for priority in sorted({c["priority"] for c in campaigns}, reverse=True):
        tier = [c for c in campaigns if c["priority"] == priority]
        tier_minimums = sum(
            min(c["min_micros"], sum(cost for cost, _ in c["segments"])) for c in tier)
        tier_value, spend = solve_tier(tier, left + tier_minimums)
        value += tier_value
        left -= spend - tier_minimums
    seconds = time.perf_counter() - started

    ours = problem["adpilot_expected_value_micros"]
    gap = abs(ours - value) / value if value > 0 else abs(ours)
    print(f"campaigns={len(campaigns)} highs_seconds={seconds:.3f}")
    print(f"highs_value={value:.3f} adpilot_value={ours:.3f} relative_gap={gap:.3e}")


if __name__ == "__main__":
    main()
