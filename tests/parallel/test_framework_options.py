"""TrainSetup's framework mechanisms: attention kernel, dp overlap, eager launches, fp8."""

from __future__ import annotations

from dataclasses import replace

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload import load_model

LLAMA = load_model("llama3-8b")
H100, DGX = load_chip("h100-sxm"), load_cluster("dgx-h100")
BASE = TrainSetup(LLAMA, H100, DGX, 16, 64, 4096)
PLAN = ParallelPlan(tp=1, pp=1, dp=16, micro_batch=1, recompute="full", zero=1)


def step_s(setup: TrainSetup, plan: ParallelPlan = PLAN) -> float:
    return StepModel(setup).evaluate(plan).step_time_s


def test_unfused_attention_is_slower_than_flash():
    flash = step_s(BASE)
    fused = step_s(replace(BASE, attention="fused_softmax"))
    dropout = step_s(replace(BASE, attention="fused_softmax", attention_dropout=True))
    assert flash < fused < dropout


def test_gradient_reduction_after_backward_is_exposed():
    assert step_s(replace(BASE, dp_overlap=False)) > step_s(BASE)


def test_eager_launch_never_faster():
    assert step_s(replace(BASE, eager=True)) >= step_s(BASE)


def test_fp8_keeps_attention_in_bf16():
    model = StepModel(BASE)
    plan = PLAN.model_copy(update={"dtype": "fp8"})
    fp8 = model.evaluate(plan).step_time_s
    bf16 = model.evaluate(PLAN).step_time_s
    assert fp8 < bf16
    times = model.microbatch_times(plan)
    assert times.layer_attention_s == model.microbatch_times(PLAN).layer_attention_s
