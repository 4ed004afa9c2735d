"""Compute slowed by overlapping collectives, and FSDP's gradient passes
(tigris.parallel.overlap) in the step model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel import overlap
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload.presets import load_model


def test_exposed_closed_form():
    # no slow-down: only what the compute cannot hide
    assert overlap.exposed_s(1.0, 3.0, 0.0) == 0.0
    assert overlap.exposed_s(3.0, 1.0, 0.0) == 2.0
    # hidden collectives still cost the compute d of their time
    assert overlap.exposed_s(1.0, 3.0, 0.43) == pytest.approx(0.43)
    # collective-bound: the compute's slow-down shows only if it outgrows the collective
    assert overlap.exposed_s(3.0, 1.0, 0.43) == 2.0
    assert overlap.exposed_s(1.2, 1.0, 0.43) == pytest.approx(0.43)


def test_gpus_only():
    assert overlap.collective_slowdown(load_chip("a100-sxm-80gb")) == pytest.approx(0.43)
    assert overlap.collective_slowdown(load_chip("h100-sxm")) == pytest.approx(0.43)
    assert overlap.collective_slowdown(load_chip("tpu-v5e")) == 0.0


def test_fsdp_pass_bytes():
    assert overlap.fsdp_grad_pass_bytes("fp32") == (6.0, 8.0)  # cast 2 -> 4, divide 4 -> 4
    assert overlap.fsdp_grad_pass_bytes("bf16") == (2.0, 2.0)  # divide in place


def _dp_s(setup: TrainSetup, plan: ParallelPlan) -> float:
    result = StepModel(setup).evaluate(plan)
    comm = next(n for n in result.breakdown.children if n.name.startswith("communication"))
    return next(n for n in comm.children if n.name == "dp").time_s


def test_step_pays_for_overlap_and_fsdp_passes(monkeypatch):
    setup = TrainSetup(
        load_model("llama2-7b"), load_chip("a100-sxm-80gb"), load_cluster("dgx-a100"), 16, 64, 2048
    )
    plan = ParallelPlan(dp=16, micro_batch=2, zero=3)
    interfered = _dp_s(setup, plan)
    assert interfered > 0.0
    fp32 = _dp_s(replace(setup, grad_reduce_dtype="fp32"), plan)
    bf16 = _dp_s(replace(setup, grad_reduce_dtype="bf16"), plan)
    assert fp32 > bf16 > 0.0
    monkeypatch.setattr(overlap, "COLLECTIVE_SLOWDOWN", {})
    assert _dp_s(setup, plan) == 0.0  # hidden, as before the slow-down was modelled
