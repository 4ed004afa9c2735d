"""Area and cost respond to the spec the way physics and the cost formulas say."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.cost import estimate_area, estimate_cost, load_assumptions
from tigris.cost.area import sram_area_mm2
from tigris.hardware.presets import list_chip_ids, load_chip

ASSUMPTIONS = load_assumptions()


def with_cmem(chip, capacity_bytes):
    levels = list(chip.memory.sram)
    levels[-1] = levels[-1].model_copy(update={"capacity": capacity_bytes})
    memory = chip.memory.model_copy(update={"sram": levels})
    return chip.model_copy(update={"memory": memory})


@settings(max_examples=25, deadline=None)
@given(st.floats(1e6, 1e9), st.floats(1e6, 1e9))
def test_more_sram_more_area_and_cost(a, b):
    small, large = sorted((a, b))
    chip = load_chip("tpu-v4")
    lo, hi = with_cmem(chip, small), with_cmem(chip, large)
    assert estimate_area(hi, ASSUMPTIONS).total_mm2 >= estimate_area(lo, ASSUMPTIONS).total_mm2
    assert (
        estimate_cost(hi, ASSUMPTIONS).manufacturing_cost_usd
        >= estimate_cost(lo, ASSUMPTIONS).manufacturing_cost_usd
    )


def test_sram_area_is_bits_times_bitcell_over_efficiency():
    # 64 MiB at 7 nm in 512 KiB macros: 64 Mi x 8 bits x 0.027 um2 / 0.26
    expected = 64 * 2**20 * 8 * 0.027e-6 / 0.26
    assert sram_area_mm2(64 * 2**20, 7, ASSUMPTIONS) == pytest.approx(expected)


def test_small_buffers_are_less_dense():
    per_byte_small = sram_area_mm2(8 * 1024, 5, ASSUMPTIONS) / (8 * 1024)
    per_byte_large = sram_area_mm2(2**24, 5, ASSUMPTIONS) / 2**24
    assert per_byte_small > per_byte_large


def test_newer_node_smaller_logic():
    chip = load_chip("tpu-v4")
    old = estimate_area(chip, ASSUMPTIONS)
    newer = chip.model_copy(update={"process": chip.process.model_copy(update={"node": 5e-9})})
    assert estimate_area(newer, ASSUMPTIONS).matrix_mm2 < old.matrix_mm2


def test_more_cores_more_area():
    chip = load_chip("tpu-v4")
    doubled = chip.model_copy(update={"matrix": chip.matrix.model_copy(update={"num_cores": 4})})
    assert estimate_area(doubled, ASSUMPTIONS).matrix_mm2 == pytest.approx(
        2 * estimate_area(chip, ASSUMPTIONS).matrix_mm2
    )


@pytest.mark.parametrize("chip_id", list_chip_ids())
def test_every_preset_gets_a_positive_breakdown(chip_id):
    chip = load_chip(chip_id)
    area = estimate_area(chip, ASSUMPTIONS)
    cost = estimate_cost(chip, ASSUMPTIONS, area)
    assert area.total_mm2 > 0
    assert area.total_mm2 == pytest.approx(area.compute_mm2 + area.uncore_mm2)
    assert 0 < cost.die_yield <= 1
    assert cost.manufacturing_cost_usd > cost.silicon_cost_usd > 0
    assert set(area.to_dict()) >= {"total_mm2", "die_area_mm2", "exceeds_reticle"}
    assert "capex_usd" in cost.to_dict()


def test_unpublished_node_is_flagged():
    area = estimate_area(load_chip("tpu-v5e"), ASSUMPTIONS)
    assert any("node" in text for text in area.assumed)


def test_cost_breakdown_adds_up_by_hand():
    chip = load_chip("tpu-v4")
    area = estimate_area(chip, ASSUMPTIONS)
    cost = estimate_cost(chip, ASSUMPTIONS, area)
    assert cost.die_cost_usd == pytest.approx(9346 / (cost.dies_per_wafer * cost.die_yield))
    assert cost.memory_cost_usd == pytest.approx(32 * 7.0)  # 32 GB HBM2 at 7 USD/GB
    bonded = cost.silicon_cost_usd + cost.memory_cost_usd + cost.package_cost_usd
    assert cost.bonding_loss_usd == pytest.approx(bonded * (1 / 0.95 - 1))


def test_purchase_basis_uses_reported_price():
    chip = load_chip("h100-sxm")
    bought = load_assumptions(overrides=["package.capex_basis=purchase"])
    assert estimate_cost(chip, bought).capex_usd == 30000
    built = estimate_cost(chip, ASSUMPTIONS)
    assert built.capex_usd == pytest.approx(built.manufacturing_cost_usd)


def test_harvesting_lowers_die_cost():
    chip = load_chip("h100-sxm")
    harvested = load_assumptions(overrides=["fab.harvest_recovered_fraction=0.5"])
    assert (
        estimate_cost(chip, harvested).die_cost_usd < estimate_cost(chip, ASSUMPTIONS).die_cost_usd
    )
