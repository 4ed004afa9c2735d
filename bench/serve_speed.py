"""Speed of `tigris serve`: 10,000 requests of Llama-3-70B on 8 H100 (tp 8), median of 3.

Prints the median wall time of a cold simulation (a fresh StepTimer each run, so the tile
engine evaluations are included). Target: under 5 s.
"""

from __future__ import annotations

import statistics
import time

from tigris.serving import build_deployment, synthetic_workload
from tigris.serving.simulator import simulate


def main() -> None:
    deployment = build_deployment("llama3-70b", "h100-sxm", num_chips=8)
    workload = synthetic_workload(10_000, 512, 256, rate_per_s=None, seed=0, length_dist="uniform")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = simulate(deployment, workload)
        times.append(time.perf_counter() - start)
    print(
        f"10,000 requests, {result.num_steps} engine steps: median {statistics.median(times):.2f} s"
    )


if __name__ == "__main__":
    main()
