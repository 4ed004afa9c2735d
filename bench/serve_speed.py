"""Speed of `tigris serve`: 10,000 requests of Llama-3-70B on 8 H100 (tp 8), median of 3.

simulate() takes its step times from the process's shared StepTimer of an equal
deployment (serving/step_time.py:shared_timer), so a second call in one process finds
every op and step shape already timed. The bench reports the two separately: cold, each
run under no_memo() (a fresh StepTimer and no decode memo: the tile engine evaluations
included, as in a fresh process), and warm, each run after a first on the shared timer.
Target: under 5 s.
"""

from __future__ import annotations

import statistics
import time

from tigris.parallel.step_memo import no_memo
from tigris.serving import build_deployment, synthetic_workload
from tigris.serving.simulator import simulate


def _median_s(run, runs: int) -> tuple[float, float, object]:  # noqa: ANN001 (a callable)
    """Median wall and CPU seconds of `runs` calls of run(), and its last result."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(runs: int = 3) -> None:
    deployment = build_deployment("llama3-70b", "h100-sxm", num_chips=8)
    workload = synthetic_workload(10_000, 512, 256, rate_per_s=None, seed=0, length_dist="uniform")

    def cold():  # noqa: ANN202
        with no_memo():
            return simulate(deployment, workload)

    cold_wall, cold_cpu, result = _median_s(cold, runs)
    simulate(deployment, workload)  # warms the shared timer
    warm_wall, warm_cpu, _ = _median_s(lambda: simulate(deployment, workload), runs)
    print(
        f"10,000 requests, {result.num_steps} engine steps, median of {runs}: "
        f"cold (no_memo) wall {cold_wall:.2f} s, CPU {cold_cpu:.2f} s; "
        f"warm (shared timer) wall {warm_wall:.2f} s, CPU {warm_cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
