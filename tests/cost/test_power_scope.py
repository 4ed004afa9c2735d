"""The scoped power model: scopes add up, a cap lowers power and never speeds up, the
fitter records its rows."""

from __future__ import annotations

import pytest

from tigris.cost.coefficients import load_assumptions
from tigris.cost.power import Activity
from tigris.cost.power_fit import PowerSample, fit_coefficients
from tigris.cost.power_scope import PowerCoefficients, RefRates, scoped_power
from tigris.hardware.presets import load_chip


def _dense(chip, fraction: float = 0.7) -> Activity:
    return Activity(
        time_s=1.0,
        flop=fraction * chip.peak_flop_per_s("bf16"),
        dram_bytes=0.3 * chip.dram_bandwidth_bytes_per_s,
        link_bytes=1e10,
    )


@pytest.mark.parametrize("chip_id", ["h100-sxm", "a100-sxm-40gb", "tpu-v5p", "tigris-1"])
def test_scopes_add_up(chip_id: str) -> None:
    chip = load_chip(chip_id)
    power = scoped_power(chip, _dense(chip))
    pue = load_assumptions().operations.pue
    assert power.node_wall_w >= power.board_w >= power.chip_w > 0
    assert power.facility_w == pytest.approx(power.node_wall_w * pue)
    assert power.energy_j("board") == pytest.approx(power.board_w * power.capped_time_s)


def test_a_cap_lowers_power_and_never_speeds_up() -> None:
    chip = load_chip("h100-sxm")
    activity = _dense(chip, 0.9)
    terms = PowerCoefficients(0.15, 2.0, 3.0, 300.0)  # a fit-independent mechanism check
    free = scoped_power(chip, activity, terms)
    capped = scoped_power(chip, activity, terms, power_cap_w=350.0)
    assert capped.board_w <= 350.0 + 1e-6
    assert capped.board_w < free.board_w
    assert capped.capped_time_s > free.capped_time_s >= activity.time_s
    above_tdp = scoped_power(chip, activity, terms, power_cap_w=5000.0)
    assert above_tdp.board_w == pytest.approx(free.board_w)


@pytest.mark.xfail(
    strict=True,
    reason="known gap: the shipped fit's core scale is set by decode-heavy serving rows "
    "(dense matrix work is barely identified), so dense H100 work draws ~350 W, not 500-700",
)
def test_h100_dense_training_draws_near_its_tdp() -> None:
    """A step at ~45 % MFU (high for Llama-3-70B) on H100: 500-700 W per board."""
    chip = load_chip("h100-sxm")
    power = scoped_power(chip, _dense(chip, 0.45))
    assert 500.0 <= power.board_w <= 700.0 + 1e-6


def _sample(row_id: str, scope: str, core: float, memory: float, measured: float) -> PowerSample:
    return PowerSample(row_id, scope, 700.0, 700.0, RefRates(core, memory, 0.0, 0.2), 1.0, measured)


def test_the_fitter_records_its_rows_and_recovers_terms() -> None:
    truth = PowerCoefficients(0.15, 2.0, 3.0, 300.0)
    rows = []
    for n, (core, memory) in enumerate([(50, 20), (100, 60), (20, 90), (150, 30), (80, 80)]):
        board = 0.15 * 700 + 2.0 * core + 3.0 * memory
        rows.append(_sample(f"B{n}", "board", core, memory, board))
    rows.append(_sample("W0", "node_wall", 100, 60, (0.15 * 700 + 380 + 300) / 0.94))
    fit = fit_coefficients(rows)
    assert fit.fitted_on == ("B0", "B1", "B2", "B3", "B4")
    assert fit.node_fitted_on == ("W0",)
    assert fit.static_fraction == pytest.approx(truth.static_fraction, rel=1e-3)
    assert fit.core_scale == pytest.approx(truth.core_scale, rel=1e-3)
    assert fit.host_w_per_chip == pytest.approx(truth.host_w_per_chip, rel=1e-3)
