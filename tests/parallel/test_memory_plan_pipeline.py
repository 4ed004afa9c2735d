"""Memory (Korthikanti et al. 2022 Table 2, ZeRO), plan validation and pipeline schedules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.errors import InfeasibleError, SpecError
from tigris.parallel.memory import activation_bytes_per_layer, memory_per_chip, params_per_chip
from tigris.parallel.pipeline import bubble_fraction, pipeline_time_s
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.workload import load_model

GPT3 = load_model("gpt3-175b")
S, B, H, A, T = 2048, 1, 12288, 96, 8  # Korthikanti et al. 2022: GPT-3 175B, t = 8
SBH = S * B * H


@pytest.mark.parametrize(
    "tp,sp,recompute,closed_form",
    [
        (1, False, "none", SBH * (34 + 5 * A * S / H)),
        (T, False, "none", SBH * (10 + 24 / T + 5 * A * S / (H * T))),
        (T, True, "none", SBH / T * (34 + 5 * A * S / H)),
        (T, False, "selective", SBH * (10 + 24 / T)),
        (T, True, "selective", SBH * 34 / T),
        (T, False, "full", 2 * SBH),
    ],
)
def test_activations_equal_korthikanti_table_2(tp, sp, recompute, closed_form):
    got = activation_bytes_per_layer(S, B, H, A, tp, sequence_parallel=sp, recompute=recompute)
    assert got == pytest.approx(closed_form, rel=1e-12)


def test_gpt3_table_2_figures():
    """Their Sec. 5: tensor + sequence parallel + selective keeps 34 sbh / t per layer: with
    s = 2048, h = 12288, t = 8 that is 107 MB per layer for one sequence."""
    per_layer = activation_bytes_per_layer(
        S, 1, H, A, 8, sequence_parallel=True, recompute="selective"
    )
    assert per_layer == pytest.approx(34 * 2048 * 12288 / 8)
    assert 1.0e8 < per_layer < 1.1e8


@given(zero=st.integers(0, 3), dp=st.sampled_from([1, 2, 8, 64]))
def test_model_state_per_zero_stage(zero, dp):
    plan = ParallelPlan(tp=8, pp=8, dp=dp, zero=zero, micro_batch=1)
    params, _ = params_per_chip(GPT3, plan)
    memory = memory_per_chip(GPT3, plan, 2048, 8, 80e9)
    # ZeRO-3: the fp32 shard is the master copy (weights 4, moments 8 bytes over dp)
    weight_b, state_b = (4, 8) if zero >= 3 else (2, 12)
    assert memory.weights_bytes == pytest.approx(weight_b * params / (dp if zero >= 3 else 1))
    assert memory.gradients_bytes == pytest.approx(4 * params / (dp if zero >= 2 else 1))
    assert memory.optimizer_bytes == pytest.approx(state_b * params / (dp if zero >= 1 else 1))


def test_params_per_chip_sum_to_the_model():
    plan = ParallelPlan(tp=8, pp=1, dp=1)
    params, _ = params_per_chip(GPT3, plan)
    assert params * 8 == pytest.approx(GPT3.num_params, rel=1e-3)


def test_gpt3_does_not_fit_one_node_without_sharding():
    plan = ParallelPlan(tp=8, pp=1, dp=1, micro_batch=1)
    memory = memory_per_chip(GPT3, plan, 2048, 1, 80e9)
    assert not memory.fits and memory.over_bytes > 100e9


@given(pp=st.integers(1, 64), m=st.integers(1, 256), v=st.sampled_from([1, 2, 4]))
def test_bubble(pp, m, v):
    assert bubble_fraction(pp, m, v) == pytest.approx((pp - 1) / (v * m))
    ideal = m * 1.0
    assert pipeline_time_s(pp, m, v, 1.0) == pytest.approx(ideal * (1 + bubble_fraction(pp, m, v)))


def test_plan_checks_say_why():
    ok = ParallelPlan(tp=8, pp=8, dp=16, micro_batch=1)
    check_plan(ok, GPT3, 1024, 1536, 2048)
    with pytest.raises(SpecError, match="not the 512 chips"):
        check_plan(ok, GPT3, 512, 1536, 2048)
    with pytest.raises(SpecError, match="multiple of dp"):
        check_plan(ok, GPT3, 1024, 1000, 2048)
    with pytest.raises(InfeasibleError, match="heads"):
        check_plan(ParallelPlan(tp=5, pp=1, dp=1), GPT3, 5, 10, 2048)
    with pytest.raises(InfeasibleError, match="layers"):
        check_plan(ParallelPlan(tp=1, pp=5, dp=1), GPT3, 5, 10, 2048)
    with pytest.raises(InfeasibleError, match="mixture"):
        check_plan(ParallelPlan(tp=1, pp=1, dp=2, ep=2), GPT3, 2, 2, 2048)
    with pytest.raises(InfeasibleError, match="interleav"):
        check_plan(ParallelPlan(tp=1, pp=1, dp=2, virtual_stages=2), GPT3, 2, 2, 2048)
    with pytest.raises(ValueError):
        ParallelPlan(tp=0)
