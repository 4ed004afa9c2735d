"""The assumptions' table lookups are memoized per section: the same figures as the plain
lookups, and a section copied with other tables looks them up afresh."""

from __future__ import annotations

from tigris.cost import estimate_area, estimate_cost, load_assumptions
from tigris.cost.coefficients import keyed_value, node_value
from tigris.hardware.presets import list_chip_ids, load_chip


def test_memoized_lookups_equal_the_plain_ones() -> None:
    assumptions = load_assumptions()
    area, fab = assumptions.area, assumptions.fab
    for node in (3, 4.5, 5, 7, 16, 28, 45):
        for _ in range(2):
            assert area.at_node("logic_density_mtr_per_mm2", node) == node_value(
                area.logic_density_mtr_per_mm2, node
            )
            assert fab.at_node("wafer_price_usd", node) == node_value(fab.wafer_price_usd, node)
    for kind in ("HBM3e", "hbm3", "HBM2", "unknown"):
        assert area.keyed("hbm_stack_bandwidth_bytes_per_s", kind, "HBM3") == keyed_value(
            area.hbm_stack_bandwidth_bytes_per_s, kind, "HBM3"
        )
    assert area.sram_macro_sizes_kib == tuple(sorted(area.sram_macro_efficiency_by_kib))


def test_copied_assumptions_look_up_afresh() -> None:
    assumptions = load_assumptions()
    chip = load_chip("tigris-1")
    before = estimate_cost(chip, assumptions)
    node = estimate_area(chip, assumptions).node_nm
    fab = assumptions.fab
    prices = {key: 2 * value for key, value in fab.wafer_price_usd.items()}
    dearer = assumptions.model_copy(
        update={"fab": fab.model_copy(update={"wafer_price_usd": prices})}
    )
    assert dearer.fab.at_node("wafer_price_usd", node) == 2 * fab.at_node("wafer_price_usd", node)
    after = estimate_cost(chip, dearer)
    assert after.wafer_price_usd == 2 * before.wafer_price_usd
    assert estimate_cost(chip, assumptions) == before


def test_every_catalog_chip_costs_as_before_twice() -> None:
    """The second estimate (memoized lookups) equals the first (fresh assumptions)."""
    for chip_id in list_chip_ids():
        chip = load_chip(chip_id)
        first = estimate_cost(chip, load_assumptions())
        assumptions = load_assumptions()
        estimate_cost(chip, assumptions)
        assert estimate_cost(chip, assumptions) == first


def test_sram_area_follows_the_bitcell_and_a_full_memo(monkeypatch) -> None:
    from tigris.cost import coefficients
    from tigris.cost.area import sram_area_mm2

    assumptions = load_assumptions()
    area = assumptions.area
    first = sram_area_mm2(64 * 2**20, 5, assumptions)
    bitcells = {key: 2 * value for key, value in area.sram_bitcell_um2.items()}
    doubled = assumptions.model_copy(
        update={"area": area.model_copy(update={"sram_bitcell_um2": bitcells})}
    )
    assert sram_area_mm2(64 * 2**20, 5, doubled) == 2 * first
    monkeypatch.setattr(coefficients, "_MAX_LOOKUPS", 2)
    sizes = [2**20 * n for n in range(1, 6)]
    assert [sram_area_mm2(s, 5, assumptions) for s in sizes] == [
        sram_area_mm2(s, 5, load_assumptions()) for s in sizes
    ]
    assert sram_area_mm2(64 * 2**20, 5, assumptions) == first


def test_a_bad_set_value_is_blamed_on_set_not_on_the_file():
    import pytest

    from tigris.cost.coefficients import load_assumptions
    from tigris.errors import SpecError

    with pytest.raises(SpecError) as error:
        load_assumptions(overrides=["package.capex_basis=bogus"])
    assert "(with --set)" in str(error.value) and "package.capex_basis" in str(error.value)
