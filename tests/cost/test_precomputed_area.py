"""Cost functions given a precomputed area (or full-load power) return exactly what they
return when they compute it themselves."""

from __future__ import annotations

import pytest

import tigris.cost as cost
from tigris.hardware.presets import load_chip

ASSUMPTIONS = cost.load_assumptions()


@pytest.mark.parametrize("chip_id", ["tigris-1", "h100-sxm", "tpu-v5p", "mi300x", "gaudi-3"])
def test_precomputed_area_gives_identical_numbers(chip_id: str) -> None:
    chip = load_chip(chip_id)
    area = cost.estimate_area(chip, ASSUMPTIONS)
    full = cost.full_load_power(chip, ASSUMPTIONS, area)
    assert full == cost.estimate_power(chip, cost.full_load_activity(chip), ASSUMPTIONS)
    tdp = cost.estimate_tdp(chip, ASSUMPTIONS)
    assert cost.estimate_tdp(chip, ASSUMPTIONS, area) == tdp
    assert cost.estimate_tdp(chip, ASSUMPTIONS, full_load=full) == tdp
    typical = cost.typical_power_w(chip, ASSUMPTIONS)
    assert cost.typical_power_w(chip, ASSUMPTIONS, area) == typical
    assert cost.typical_power_w(chip, ASSUMPTIONS, full_load=full) == typical
    plain = cost.tco(chip, ASSUMPTIONS)
    assert cost.tco(chip, ASSUMPTIONS, area=area) == plain
    breakdown = cost.estimate_cost(chip, ASSUMPTIONS, area)
    assert cost.tco(chip, ASSUMPTIONS, cost=breakdown, area=area) == plain
    totals = dict(flop=1e18, dram_bytes=1e14, link_bytes=1e12, time_s=2.0, tokens=1e6)
    assert cost.energy_per_token(
        chip, **totals, num_chips=8, assumptions=ASSUMPTIONS, area=area
    ) == cost.energy_per_token(chip, **totals, num_chips=8, assumptions=ASSUMPTIONS)
