"""Serving objectives come from tigris.serving: a static batch (infer) and Poisson
arrivals through the continuous-batching simulator (serve, p99 latency at a rate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from explore_sweeps import write_sweep

from tigris.explore import Evaluator, load_sweep
from tigris.hardware.presets import load_chip
from tigris.workload import load_model

SERVE = """
name: serve
base: tigris-1
axes:
  memory.dram.bandwidth: ['4 TB/s', '8 TB/s']
workloads:
  - {name: batch, task: infer, model: llama3-8b, batch: 8, input_len: 256, output_len: 32}
  - {name: online, task: serve, model: llama3-8b, rate: 4, num_requests: 24, input_len: 256,
     output_len: 32}
objectives:
  - {metric: p99_latency_s, goal: min, workload: online}
  - {metric: tokens_per_s, goal: max, workload: batch}
"""


def test_infer_and_serve_objectives(tmp_path: Path) -> None:
    serving = pytest.importorskip("tigris.serving")
    from tigris.serving.requests import synthetic_workload
    from tigris.serving.simulator import simulate

    sweep = load_sweep(write_sweep(tmp_path, SERVE))
    evaluator = Evaluator(sweep)
    slow = evaluator.evaluate({"memory.dram.bandwidth": 4e12})
    fast = evaluator.evaluate({"memory.dram.bandwidth": 8e12})
    assert slow.status == fast.status == "ok", (slow.reason, fast.reason)
    assert fast.objectives["p99_latency_s@online"] < slow.objectives["p99_latency_s@online"]
    assert fast.objectives["tokens_per_s@batch"] > slow.objectives["tokens_per_s@batch"]

    chip = load_chip("tigris-1").model_copy(update={"id": "tigris-1~check"})
    chip = chip.model_copy(
        update={
            "memory": chip.memory.model_copy(
                update={"dram": chip.memory.dram.model_copy(update={"bandwidth": 8e12})}
            )
        }
    )
    deployment = serving.Deployment(model=load_model("llama3-8b"), chip=chip, num_chips=1, tp=1)
    direct = serving.infer(deployment, 8, 256, 32)
    assert fast.objectives["tokens_per_s@batch"] == pytest.approx(direct.throughput_tokens_per_s)
    arrivals = synthetic_workload(24, 256, 32, rate_per_s=4, seed=0)
    result = simulate(deployment, arrivals)
    p99 = np.percentile(result.finish_s - arrivals.arrival_s, 99)
    assert fast.objectives["p99_latency_s@online"] == pytest.approx(p99)
    assert fast.metrics["online"]["p50_latency_s"] <= fast.objectives["p99_latency_s@online"]
