"""numpy sgemm GFLOP/s on one shape, the peer of `adpilot bench gemm`.

Prints the BLAS library and kernel numpy runs (threadpoolctl) and the best of N timed runs.
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are expected to be unset by the caller.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", required=True, help="MxKxN")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    m, k, n = (int(x) for x in args.shape.split("x"))

    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                print(f"blas={pool.get('internal_api')} kernel={pool.get('architecture')} "
                      f"threads={pool.get('num_threads')}")
        c = a @ b  # warm-up
        best = float("inf")
        for _ in range(args.steps):
            started = time.perf_counter()
            c = a @ b
            best = min(best, time.perf_counter() - started)
    assert np.isfinite(c).all()
    print(f"gflops={2 * m * k * n / best / 1e9:.1f}")


if __name__ == "__main__":
    main()
