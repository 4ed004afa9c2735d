"""Cells of the comparison: reasons instead of crashes, the best plan and batch, and the
energy and cost figures tied together as their definitions say."""

from __future__ import annotations

import pytest

from tigris.compare.runner import evaluate_cell, run_comparison
from tigris.compare.serve import largest_batch
from tigris.compare.workloads import ServeWorkload, TrainWorkload
from tigris.cost import load_assumptions, tco, usd_per_million_tokens
from tigris.hardware.presets import load_chip
from tigris.serving.deployment import Deployment
from tigris.serving.static_batch import infer
from tigris.serving.step_time import StepTimer
from tigris.workload.presets import load_model

TRAIN = TrainWorkload(name="t", model="llama3-8b", num_chips=64, global_batch=64, seq_len=2048)
SERVE = ServeWorkload(
    name="s", model="llama3-8b", num_chips=2, input_len=512, output_len=64, slo_tpot=0.03
)


@pytest.fixture(scope="module")
def assumptions():
    return load_assumptions()


@pytest.mark.parametrize("workload", [TRAIN, SERVE], ids=["train", "serve"])
def test_chip_without_bf16_gets_a_reason(workload, assumptions):
    cell = evaluate_cell(load_chip("maia-200"), workload, assumptions)
    assert not cell.ran and "bf16" in cell.reason
    assert cell.tokens_per_s is None and cell.usd_per_million_tokens is None


def test_cpu_without_scale_out_gets_a_reason(assumptions):
    cell = evaluate_cell(load_chip("cobalt-100"), TRAIN, assumptions)
    assert not cell.ran and "scale-out" in cell.reason


def test_model_that_does_not_fit_gets_a_reason(assumptions):
    big = SERVE.model_copy(update={"model": "llama3.1-405b", "num_chips": 1})
    cell = evaluate_cell(load_chip("h100-sxm"), big, assumptions)
    assert not cell.ran and "weights per chip" in cell.reason


def test_train_cell_is_consistent(assumptions):
    chip = load_chip("h100-sxm")
    cell = evaluate_cell(chip, TRAIN, assumptions)
    assert cell.ran and cell.fits
    plan = cell.plan
    assert plan["tp"] * plan["pp"] * plan["dp"] * plan["cp"] == TRAIN.num_chips
    assert 0 < cell.mfu < 1
    assert cell.tokens_per_s == pytest.approx(TRAIN.global_batch * TRAIN.seq_len / cell.time_s)
    assert sum(cell.breakdown.values()) == pytest.approx(cell.time_s, rel=1e-9)
    # energy per token x tokens per second per chip is the chip's power (no TDP cap here)
    assert cell.power_cap_slowdown == pytest.approx(1.0)
    assert cell.energy_per_token_j * cell.tokens_per_s_per_chip == pytest.approx(
        cell.power_w_per_chip, rel=1e-6
    )
    assert cell.power_w_per_chip < chip.tdp
    hourly = tco(chip, assumptions, power_w=cell.power_w_per_chip).usd_per_chip_hour
    assert cell.usd_per_million_tokens == pytest.approx(
        usd_per_million_tokens(hourly, cell.tokens_per_s_per_chip)
    )
    assert cell.ops and all(op.flop > 0 or op.dram_bytes > 0 for op in cell.ops)


def test_serve_batch_is_the_largest_meeting_the_slo():
    chip = load_chip("h100-sxm")
    deployment = Deployment(load_model("llama3-8b"), chip, num_chips=1, tp=1)
    timer = StepTimer(deployment)
    best = largest_batch(deployment, SERVE, timer)
    assert best.tpot_s <= SERVE.slo_tpot_s and best.ttft_s <= SERVE.slo_ttft_s and best.fits
    above = infer(deployment, best.batch + 1, SERVE.input_len, SERVE.output_len, timer)
    assert above.tpot_s > SERVE.slo_tpot_s or above.ttft_s > SERVE.slo_ttft_s or not above.fits


def test_serve_cell_picks_the_best_layout(assumptions):
    chip = load_chip("h100-sxm")
    cell = evaluate_cell(chip, SERVE, assumptions)
    assert cell.ran and cell.plan["tp"] * cell.plan["replicas"] == SERVE.num_chips
    for tp in (1, 2):
        deployment = Deployment(load_model("llama3-8b"), chip, num_chips=2, tp=tp)
        other = largest_batch(deployment, SERVE, StepTimer(deployment))
        assert cell.tokens_per_s >= other.throughput_tokens_per_s * (1 - 1e-9)
    assert cell.time_s <= SERVE.slo_tpot_s
    assert sum(cell.breakdown.values()) == pytest.approx(cell.extra["e2e_latency_s"])


def test_tighter_slo_never_raises_throughput(assumptions):
    chip = load_chip("h100-sxm")
    loose = evaluate_cell(chip, SERVE, assumptions)
    tight = evaluate_cell(chip, SERVE.model_copy(update={"slo_tpot_s": 0.012}), assumptions)
    assert tight.ran and tight.tokens_per_s <= loose.tokens_per_s
    assert tight.plan["batch"] < loose.plan["batch"]


def test_comparison_parallel_equals_serial(assumptions):
    chips = ["h100-sxm", "maia-200"]
    serial = run_comparison(chips, [SERVE], assumptions, workers=1)
    parallel = run_comparison(chips, [SERVE], assumptions, workers=2)
    for key, cell in serial.cells.items():
        assert parallel.cells[key].to_dict() == cell.to_dict()


def test_also_on_chips_join_only_the_default_list(assumptions):
    workload = SERVE.model_copy(update={"also_on": ("cobalt-100",), "num_chips": 1})
    default = run_comparison(["h100-sxm"], [workload], assumptions, default_chips=True, workers=1)
    given = run_comparison(["h100-sxm"], [workload], assumptions, workers=1)
    assert default.chips_by_workload["s"] == ("h100-sxm", "cobalt-100")
    assert given.chips_by_workload["s"] == ("h100-sxm",)
