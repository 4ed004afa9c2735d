"""The sustained clock under the board power limit (tigris.parallel.clock) in the step model."""

from __future__ import annotations

import pytest

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel import clock
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload.presets import load_model


def test_stretch_closed_form():
    assert clock.clock_stretch(1.0, 1.0) == 1.0
    assert clock.clock_stretch(0.8, 1.0) == pytest.approx(1 / 0.8)
    # power goes as f^3: an activity at or below s^3 fits the budget at the boost clock
    assert clock.clock_stretch(0.8, 0.8**3) == pytest.approx(1.0)
    assert clock.clock_stretch(0.8, 0.1) == 1.0
    assert clock.clock_stretch(0.8, 0.0) == 1.0
    assert clock.clock_stretch(0.8, 0.75) == pytest.approx(0.75 ** (1 / 3) / 0.8)


def test_sourced_chips_only():
    assert clock.sustained_clock_ratio(load_chip("h100-sxm")) == pytest.approx(1575 / 1980)
    assert clock.sustained_clock_ratio(load_chip("a100-sxm-80gb")) == 1.0


def _step_s(chip_id: str, system: str, **chip_changes: object) -> float:
    chip = load_chip(chip_id).model_copy(update=chip_changes)
    setup = TrainSetup(load_model("llama2-7b"), chip, load_cluster(system), 8, 64, 2048)
    plan = ParallelPlan(dp=8, micro_batch=4, zero=3)
    return StepModel(setup).evaluate(plan).step_time_s


def test_step_stretches_on_a_throttled_chip():
    throttled = _step_s("h100-sxm", "dgx-h100")
    boost = _step_s("h100-sxm", "dgx-h100", sustained_clock_fraction=None)
    assert boost < throttled <= boost * 1980 / 1575 + 1e-9
    a100 = _step_s("a100-sxm-80gb", "dgx-a100")
    assert _step_s("a100-sxm-80gb", "dgx-a100", sustained_clock_fraction=None) == a100


def test_fp8_plans_cast_their_linear_inputs_and_keep_the_head_bf16():
    from tigris.parallel.step import _step_parts

    setup = TrainSetup(
        load_model("llama2-7b"), load_chip("h100-sxm"), load_cluster("dgx-h100"), 8, 64, 2048
    )
    parts = _step_parts(setup, ParallelPlan(dp=8, micro_batch=4, zero=3, dtype="fp8"))
    fwd = [op.name for op in parts[("layer", "fwd")]]
    bwd = [op.name for op in parts[("layer", "bwd")]]
    assert any(name.endswith(".cast") for name in fwd)
    assert any(name.endswith(".wcast") for name in fwd)
    assert not any(name.endswith(".wgrad.cast") for name in bwd)
    assert all(op.dtype == "bf16" for op in parts[("head", "fwd")] if hasattr(op, "k"))
