"""Batch-64 throughput of the Numba runtime against 64 batch-1 calls, on the zoo models.

    python benchmarks/batch_speed.py [--models ds_cnn,mobilenet_v1_025,resnet8,fc_autoencoder] [--rounds 8]

A batch runs as one step program of the model re-planned for its samples (runtime/batch_plan.py); issue 23
asks that its throughput be at least the batch-1 rate. Each round times, per model, five repetitions of 64
single-sample invokes and five of one 64-sample invoke (same int8 inputs, interleaved so that the machine's
load falls on both); a mode's time is the least of the rounds' medians. Prints one row per model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from zoo_files import compile_zoo_model  # noqa: E402  (the zoo compiled as the tests compile it)

from microflat.runtime import Interpreter  # noqa: E402

BATCH = 64


def _median_seconds(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, rounds: int) -> tuple[float, float]:
    """(batch-1 rate, batch-64 rate) in inferences per second."""
    it = Interpreter(compile_zoo_model(name))
    shape = it.input_details[0]["shape"]
    batch = np.random.default_rng(0).integers(-128, 128, (BATCH,) + tuple(shape[1:])).astype(np.int8)
    singles = [batch[b:b + 1].copy() for b in range(BATCH)]

    def one_by_one():
        for x in singles:
            it.invoke(x)

    def whole():
        it.invoke(batch)

    one_by_one(), whole()  # compiled, prepared, caches warm
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for k, fn in enumerate((one_by_one, whole)):
            best[k] = min(best[k], _median_seconds(fn))
    return BATCH / best[0], BATCH / best[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ds_cnn,mobilenet_v1_025,resnet8,fc_autoencoder")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    print("| model | 64 batch-1 calls (/s) | one batch-64 call (/s) | batch-64 / batch-1 |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        single, batched = measure(name, args.rounds)
        print(f"| {name} | {single:,.0f} | {batched:,.0f} | {batched / single:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
