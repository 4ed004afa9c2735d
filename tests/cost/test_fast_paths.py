"""The cost model's per-design shortcuts give exactly what their slower references give:
energy_per_token (per-chip counts, checked without an Activity) against estimate_power,
and estimate_cost's combined per-(DRAM part, node) lookup against the plain functions."""

from __future__ import annotations

import pytest

import tigris.cost as cost
from tigris.cost.cost import memory_cost_usd, package_cost_usd
from tigris.cost.wafer import die_yield, dies_per_wafer
from tigris.hardware.presets import list_chip_ids, load_chip

CHIP_IDS = list_chip_ids()


def _variants(chip):
    """The chip, and copies whose TDP caps its power (with and without headroom)."""
    yield chip
    yield chip.model_copy(update={"tdp": 300.0})
    yield chip.model_copy(update={"tdp": 1e-3})  # below static power: no headroom


@pytest.mark.parametrize("chip_id", CHIP_IDS)
def test_energy_per_token_equals_the_power_record(chip_id: str) -> None:
    assumptions = cost.load_assumptions()
    for chip in _variants(load_chip(chip_id)):
        for flop, dram_bytes, link_bytes, time_s in [
            (1e15, 1e12, 0.0, 1.0),
            (1e18, 1e14, 1e12, 2.0),
            (0.0, 0.0, 0.0, 0.5),
        ]:
            num_chips, tokens = 8, 1e5
            result = cost.energy_per_token(
                chip,
                flop=flop,
                dram_bytes=dram_bytes,
                link_bytes=link_bytes,
                time_s=time_s,
                tokens=tokens,
                num_chips=num_chips,
                assumptions=assumptions,
            )
            from tigris.cost.power_report import BREAKDOWN
            from tigris.cost.power_scope import scoped_power

            power = scoped_power(
                chip,
                cost.Activity(
                    time_s=time_s,
                    flop=flop / num_chips,
                    dram_bytes=dram_bytes / num_chips,
                    link_bytes=link_bytes / num_chips,
                ),
                assumptions=assumptions,
            )
            reference = cost.EnergyPerToken(
                chip_id=chip.id,
                num_chips=num_chips,
                tokens=tokens,
                energy_j=power.energy_j("board") * num_chips,
                power_w_per_chip=power.board_w,
                slowdown=power.slowdown,
                power_chip_w=power.chip_w,
                power_node_wall_w=power.node_wall_w,
                energy_wall_j=power.energy_j("node_wall") * num_chips,
                power_breakdown_w=tuple((n, getattr(power, f"{n}_w")) for n in BREAKDOWN),
            )
            assert result == reference


@pytest.mark.parametrize("chip_id", CHIP_IDS)
def test_estimate_cost_equals_its_parts(chip_id: str) -> None:
    """The combined per-(DRAM part, node) lookup gives the figures the plain functions do."""
    assumptions = cost.load_assumptions()
    chip = load_chip(chip_id)
    area = cost.estimate_area(chip, assumptions)
    for _ in range(2):  # the second time from the memo
        result = cost.estimate_cost(chip, assumptions, area)
        fab = assumptions.fab
        die_mm2 = area.die_area_mm2
        assert result.memory_cost_usd == memory_cost_usd(chip, assumptions)
        assert result.package_cost_usd == package_cost_usd(chip, area, assumptions)
        assert result.wafer_price_usd == fab.at_node("wafer_price_usd", area.node_nm)
        assert result.dies_per_wafer == dies_per_wafer(
            die_mm2, fab.wafer_diameter_mm, fab.edge_loss_mm, fab.scribe_mm
        )
        assert result.die_yield == die_yield(
            die_mm2,
            fab.at_node("defect_density_per_cm2", area.node_nm),
            fab.yield_model,
            fab.clustering_alpha,
        )
