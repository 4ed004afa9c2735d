"""Speed of the training model: one plan (median, warm caches as a search sees them, and
cold from scratch) and the full plan search for GPT-3 175B on 1024 H100, global batch
1536 x 2048 (issue 12's target: under 0.5 s), cold (the first search in a fresh process,
as `tigris train` runs it) and warm (a search after a search), median of 5 each, against
llm-analysis timed in the same run on the same model and plan (bench/peers.py; without
its venv, DESIGN.md's 0.4 ms per estimate). Wall and CPU seconds are both given, and the
machine's load average beside them (a shared machine's wall times drift with it).

    .venv/bin/python bench/train_speed.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.search import search_plans
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import LLM_ANALYSIS_TRAIN, time_peer  # noqa: E402
from startup_speed import tigris_env  # noqa: E402

SEARCH_TARGET_S = 0.5  # issue 12

LLM_ANALYSIS_RECORDED_S = 0.4e-3  # DESIGN.md section 8
REPEATS = 5

# One GPT-3 search in a fresh interpreter: (wall s, CPU s, plans searched) of the search
# alone (the imports and the presets' loading are startup_speed.py's to measure).
COLD_SEARCH = """
import json, time
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.search import search_plans
from tigris.parallel.step import TrainSetup
from tigris.workload import load_model
setup = TrainSetup(load_model("gpt3-175b"), load_chip("h100-sxm"), load_cluster("dgx-h100"),
                   1024, 1536, 2048)
wall, cpu = time.perf_counter(), time.process_time()
found = search_plans(setup)
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu, found.num_searched]))
"""


def gpt3_setup() -> TrainSetup:
    return TrainSetup(
        load_model("gpt3-175b"), load_chip("h100-sxm"), load_cluster("dgx-h100"), 1024, 1536, 2048
    )


def cold_searches() -> list[tuple[float, float, int]]:
    """(wall, CPU, plans) of REPEATS first searches, each in a fresh process (with its
    bytecode and spec cache, as startup_speed.py runs Tigris; after an untimed one)."""
    runs = []
    for _ in range(REPEATS + 1):
        out = subprocess.run(
            [sys.executable, "-c", COLD_SEARCH],
            capture_output=True,
            text=True,
            check=True,
            env=tigris_env(),
        )
        runs.append(tuple(json.loads(out.stdout.strip().splitlines()[-1])))
    return runs[1:]


def warm_searches(setup: TrainSetup) -> list[tuple[float, float, int]]:
    """(wall, CPU, plans) of REPEATS searches after a first one in this process."""
    search_plans(setup)
    runs = []
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        found = search_plans(setup)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu, found.num_searched))
    return runs


def report_searches(label: str, runs: list[tuple[float, float, int]]) -> float:
    """Print the median wall and CPU seconds of `runs`; return the median wall."""
    wall, cpu = median(r[0] for r in runs), median(r[1] for r in runs)
    verdicts = ["ok" if s < SEARCH_TARGET_S else "MISSED" for s in (wall, cpu)]
    print(
        f"full search GPT-3 175B, 1024 x H100, {label}: median of {len(runs)} {wall:.3f} s "
        f"wall, {cpu:.3f} s CPU, {runs[0][2]} plans (target < {SEARCH_TARGET_S} s: "
        f"wall {verdicts[0]}, CPU {verdicts[1]}; target / wall {SEARCH_TARGET_S / wall:.2f})"
    )
    return wall


def main() -> None:
    setup = gpt3_setup()
    plan = ParallelPlan(
        tp=8, pp=8, dp=16, micro_batch=1, recompute="selective", sequence_parallel=True
    )
    cold = []
    for _ in range(20):
        start = time.perf_counter()
        StepModel(setup).evaluate(plan)
        cold.append(time.perf_counter() - start)
    model = StepModel(setup)
    model.evaluate(plan)
    warm = []
    for _ in range(200):
        start = time.perf_counter()
        model.evaluate(plan)
        warm.append(time.perf_counter() - start)
    start = time.perf_counter()
    found = search_plans(setup)
    search_s = time.perf_counter() - start
    per_plan = search_s / found.num_searched
    print(
        f"one plan, cold (graph built, ops timed): median {median(cold) * 1e3:.3f} ms   "
        "(target < 1 ms)"
    )
    print(f"one plan, warm (op times cached):       median {median(warm) * 1e3:.3f} ms")
    print(f"one plan in the full search (amortised): {per_plan * 1e3:.3f} ms")
    peer_s = time_peer(LLM_ANALYSIS_TRAIN, repeats=20)
    peer = "llm-analysis, this run" if peer_s is not None else "llm-analysis, DESIGN.md's"
    peer_s = peer_s if peer_s is not None else LLM_ANALYSIS_RECORDED_S
    print(
        f"  {peer}: {peer_s * 1e3:.3f} ms per estimate; cold {peer_s / median(cold):.2f}x, "
        f"warm {peer_s / median(warm):.1f}x, in the search {peer_s / per_plan:.1f}x"
    )
    print(
        f"full search GPT-3 175B, 1024 x H100, 1536 x 2048: {search_s:.2f} s, "
        f"plans searched {found.num_searched} (valid {found.num_valid}, fit {found.num_fit})"
    )
    print(f"load average before the searches: {os.getloadavg()[0]:.2f}")
    cold_s = report_searches("cold (fresh process)", cold_searches())
    warm_s = report_searches("warm (after a search)", warm_searches(setup))
    print(
        f"  per plan against {peer} per estimate: cold {peer_s / (cold_s / found.num_searched):.1f}x, "
        f"warm {peer_s / (warm_s / found.num_searched):.1f}x"
    )
    print(
        f"best: {found.best.plan.as_dict()} step {found.best.step_time_s:.3f} s MFU {found.best.mfu:.3f}"
    )


if __name__ == "__main__":
    main()
