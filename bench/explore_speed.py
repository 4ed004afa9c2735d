"""Speed of design-space exploration on the example sweep (examples/better-tigris-1.yaml).

Target (issue 7): at least 2,000 design x workload evaluations per second per core for the
analytical training model, and near-linear gain from 1 to 2 workers.

Prints, each a median over REPEATS runs on the same designs:
- per core, in one process: designs/s (infeasible ones included: they stop at the area and
  power constraints), training-step evaluations/s (design x workload pairs that ran the
  training model), and where the time of one feasible design goes (tigris.parallel's step
  model, tigris.cost's area/power/cost, and the rest: building and validating the chip);
- the machinery alone: the same designs through a closed-form synthetic workload (so the
  sweep's own cost, without any model, is seen);
- the 1 -> 2 worker speed-up of `run_sweep` over the whole grid, store writes included
  (wall clock, median of 3 interleaved runs), with the CPU both runs used: the per-core
  rates above are CPU time, which other sessions on the machine barely change, while
  they do cap the wall-clock speed-up (Linux shares CPU between sessions).
Run: .venv/bin/python bench/explore_speed.py
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from tigris.explore import Evaluator, Store, load_sweep, run_sweep

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "better-tigris-1.yaml"
REPEATS = 5
DESIGNS = 600


def designs(sweep, count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{axis.path: rng.choice(axis.values) for axis in sweep.axes} for _ in range(count)]


def warm_up(evaluator: Evaluator, batch: list[dict]) -> None:
    """Load what a worker loads once (models, op graphs, clusters, the step model's sharded
    graph): evaluate designs until one has run the workload (a design cut by a constraint
    loads none of it)."""
    for params in batch:
        if evaluator.evaluate(params).metrics:
            return


def per_core(sweep, batch: list[dict]) -> tuple[float, float, int]:
    """Median designs/s and training evaluations/s of one in-process Evaluator."""
    evaluator = Evaluator(sweep)
    warm_up(evaluator, batch)
    design_rates, train_rates = [], []
    ran = 0
    for _ in range(REPEATS):
        start = time.process_time()  # CPU seconds of this process: per core, whatever the load
        rows = [evaluator.evaluate(params) for params in batch]
        seconds = time.process_time() - start
        ran = sum(1 for row in rows if row.metrics)  # the workload ran (not cut by a constraint)
        design_rates.append(len(batch) / seconds)
        train_rates.append(ran * len(sweep.workloads) / seconds)
    return statistics.median(design_rates), statistics.median(train_rates), ran


def time_split(sweep, batch: list[dict]) -> dict[str, float]:
    """CPU seconds per design that ran the workload: in the step model, the cost model and
    the rest (chip building and validation, constraints, designs cut by a constraint)."""
    import tigris.cost as cost
    import tigris.parallel.step as step

    spent = {"step": 0.0, "cost": 0.0}
    depth = {"step": 0, "cost": 0}  # a call inside another of its kind is counted once

    def timed(module, name, key):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            if depth[key]:
                return original(*args, **kwargs)
            depth[key] += 1
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += time.process_time() - start
                depth[key] -= 1

        setattr(module, name, wrapper)
        return original

    originals = [
        (step.StepModel, "evaluate", timed(step.StepModel, "evaluate", "step")),
        *[
            (cost, name, timed(cost, name, "cost"))
            for name in (
                "estimate_area",
                "full_load_power",
                "estimate_tdp",
                "estimate_cost",
                "typical_power_w",
                "tco",
                "energy_per_token",
                "usd_per_million_tokens",
            )
        ],
    ]
    try:
        evaluator = Evaluator(sweep)
        warm_up(evaluator, batch)
        start = time.process_time()
        rows = [evaluator.evaluate(params) for params in batch]
        total = time.process_time() - start
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    count = sum(1 for row in rows if row.metrics) or 1
    return {
        "step model": spent["step"] / count,
        "cost model": spent["cost"] / count,
        "rest": (total - spent["step"] - spent["cost"]) / count,
    }


def machinery_only(sweep_path: Path, batch: list[dict]) -> float:
    """Designs/s with the example's axes and derived values but a closed-form workload."""
    text = sweep_path.read_text()
    head = text[: text.index("constraints:")]
    synthetic = (
        head
        + "workloads:\n  - {task: synthetic, function: zdt1, "
        + "inputs: [matrix.rows, matrix.cols, matrix.clock]}\n"
        + "objectives:\n  - {metric: f1, goal: min}\n  - {metric: f2, goal: min}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.yaml"
        path.write_text(synthetic)
        sweep = load_sweep(path)
    evaluator = Evaluator(sweep)
    rates = []
    for _ in range(REPEATS):
        start = time.process_time()
        for params in batch:
            evaluator.evaluate(params)
        rates.append(len(batch) / (time.process_time() - start))
    return statistics.median(rates)


def sweep_seconds(sweep, workers: int) -> tuple[float, float]:
    """Wall seconds of the whole grid, and CPU seconds of this process and its workers."""

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # joined workers
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        cpu_start, start = cpu(), time.perf_counter()
        progress = run_sweep(sweep, store, workers=workers)
        seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
        assert progress.new == sweep.space.size
    return seconds, cpu_seconds


def main() -> None:
    sweep = load_sweep(EXAMPLE)
    batch = designs(sweep, DESIGNS)
    design_rate, train_rate, ran = per_core(sweep, batch)
    split = time_split(sweep, batch)
    machinery = machinery_only(EXAMPLE, batch)
    print(
        f"example sweep: {sweep.name}, {sweep.space.size} designs, {len(sweep.workloads)} workload"
    )
    print(
        f"per core ({DESIGNS} random designs, {ran} ran the training model, median of {REPEATS}):"
    )
    print(f"  designs/s                          {design_rate:10.0f}")
    print(f"  design x workload training evals/s {train_rate:10.0f}   (target 2000)")
    print(
        "  CPU per design that ran it: "
        + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in split.items())
    )
    print(f"  machinery alone (synthetic workload) {machinery:8.0f} designs/s")

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(3):  # interleaved, so a change in the machine's load hits both alike
        for workers in (1, 2):
            wall, cpu = sweep_seconds(sweep, workers)
            walls[workers].append(wall)
            cpus[workers].append(cpu)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    cpu_one, cpu_two = statistics.median(cpus[1]), statistics.median(cpus[2])
    print(
        f"whole grid through run_sweep (store writes included), {cores} cores here, "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"  1 worker  {one:6.2f} s wall {cpu_one:6.2f} s CPU  {sweep.space.size / one:6.0f} designs/s"
    )
    print(
        f"  2 workers {two:6.2f} s wall {cpu_two:6.2f} s CPU  {sweep.space.size / two:6.0f} designs/s"
    )
    print(f"  1 -> 2 worker speed-up (wall clock): {one / two:.2f}x")
    print(
        f"  CPU of 2 workers + parent vs 1 worker: {cpu_two / cpu_one:.2f}x the work; on an idle "
        f"machine the speed-up is at most {2 * cpu_one / cpu_two:.2f}x. Other sessions' load "
        "caps the wall-clock gain: Linux shares CPU between sessions (autogroup), so a second "
        "worker adds no CPU share while the machine is busy."
    )


if __name__ == "__main__":
    main()
