"""Power from activity, the TDP cap, and energy per token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.cost import (
    Activity,
    activity_from_op_times,
    energy_per_token,
    estimate_power,
    full_load_activity,
    load_assumptions,
    serving_energy,
    training_step_energy,
)
from tigris.engines.base import get_engine
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Gemm

ASSUMPTIONS = load_assumptions()
H100 = load_chip("h100-sxm")


def at_utilization(chip, fraction):
    full = full_load_activity(chip)
    return Activity(
        time_s=1.0,
        flop=full.flop * fraction,
        dram_bytes=full.dram_bytes * fraction,
        link_bytes=full.link_bytes * fraction,
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_higher_utilisation_more_power_up_to_tdp(a, b):
    low, high = sorted((a, b))
    p_low = estimate_power(H100, at_utilization(H100, low), ASSUMPTIONS).power_w
    p_high = estimate_power(H100, at_utilization(H100, high), ASSUMPTIONS).power_w
    assert p_low <= p_high + 1e-9
    assert p_high <= H100.tdp + 1e-6


def test_cap_slows_down_and_keeps_energy_consistent():
    result = estimate_power(H100, at_utilization(H100, 2.0), ASSUMPTIONS)
    assert result.demand_power_w > H100.tdp
    assert result.power_w == pytest.approx(H100.tdp)
    assert result.slowdown == pytest.approx(
        result.dynamic_energy_j / (H100.tdp - result.static_w) / result.time_s
    )
    assert result.energy_j == pytest.approx(
        result.dynamic_energy_j + result.static_w * result.capped_time_s
    )


def test_idle_chip_draws_static_power():
    result = estimate_power(H100, Activity(time_s=2.0), ASSUMPTIONS)
    assert result.power_w == pytest.approx(result.static_w)
    assert result.energy_j == pytest.approx(2.0 * result.static_w)


def test_dram_energy_per_byte_by_hand():
    only_dram = Activity(time_s=1.0, dram_bytes=1e12)
    result = estimate_power(H100, only_dram, ASSUMPTIONS)
    assert result.dram_energy_j == pytest.approx(1e12 * 8 * 3.97e-12)


def test_fp8_costs_less_than_bf16_per_flop():
    bf16 = estimate_power(H100, Activity(time_s=1.0, flop=1e15, dtype="bf16"), ASSUMPTIONS)
    fp8 = estimate_power(H100, Activity(time_s=1.0, flop=1e15, dtype="fp8"), ASSUMPTIONS)
    assert fp8.compute_energy_j < bf16.compute_energy_j


def test_systolic_moves_less_on_chip_per_mac_than_tensor_cores():
    tpu = load_chip("tpu-v4")
    work = Activity(time_s=1.0, flop=1e14)
    assert (
        estimate_power(tpu, work, ASSUMPTIONS).onchip_energy_j
        < estimate_power(load_chip("a100-sxm-80gb"), work, ASSUMPTIONS).onchip_energy_j
    )


def test_activity_from_engine_results():
    engine = get_engine("tile")
    times = [engine.time(Gemm("g", 4096, 4096, 4096), H100) for _ in range(3)]
    activity = activity_from_op_times(times, link_bytes=1e6)
    assert activity.flop == pytest.approx(3 * 2 * 4096**3)
    assert activity.dram_bytes == pytest.approx(sum(t.dram_bytes for t in times))
    assert activity.time_s == pytest.approx(sum(t.time_s for t in times))
    assert estimate_power(H100, activity, ASSUMPTIONS).power_w > 0


def test_energy_per_token_splits_totals_over_chips():
    totals = dict(flop=8e15, dram_bytes=8e11, link_bytes=8e10, time_s=2.0)
    one = energy_per_token(
        H100,
        tokens=1e4,
        num_chips=1,
        **{k: v / 8 for k, v in totals.items() if k != "time_s"},
        time_s=2.0,
    )
    eight = energy_per_token(H100, tokens=8e4, num_chips=8, **totals)
    assert eight.energy_j == pytest.approx(8 * one.energy_j)
    assert eight.energy_per_token_j == pytest.approx(one.energy_per_token_j)
    step = training_step_energy(H100, tokens_per_step=8e4, num_chips=8, **totals)
    serve = serving_energy(H100, tokens_generated=8e4, num_chips=8, **totals)
    assert step.energy_per_token_j == pytest.approx(eight.energy_per_token_j)
    assert serve.to_dict()["energy_per_token_j"] == pytest.approx(eight.energy_per_token_j)


def test_bad_activity_is_rejected():
    with pytest.raises(ValueError):
        Activity(time_s=0.0)
    with pytest.raises(ValueError):
        Activity(time_s=1.0, flop=-1.0)
