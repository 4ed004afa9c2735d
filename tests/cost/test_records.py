"""Results built by `record` (no dataclass __init__) are the objects __init__ builds, and
the per-part figures memoised on the assumptions follow the parts and the assumptions."""

from __future__ import annotations

import dataclasses
import pickle
import sys

import pytest
from pydantic import BaseModel

import tigris.cost as cost
from tigris.cost import _record
from tigris.hardware.presets import list_chip_ids, load_chip


def _results(chip, assumptions):
    area = cost.estimate_area(chip, assumptions)
    return [
        area,
        cost.estimate_cost(chip, assumptions, area),
        cost.full_load_power(chip, assumptions, area),
        cost.estimate_power(chip, cost.Activity(time_s=1e-3, flop=1e12), assumptions, area),
        cost.tco(chip, assumptions, power_w=300.0),
        cost.energy_per_token(
            chip, flop=1e15, dram_bytes=1e12, link_bytes=0.0, time_s=1.0, tokens=1e4
        ),
    ]


@pytest.mark.parametrize("chip_id", list_chip_ids())
def test_records_equal_the_dataclass_init(chip_id: str, monkeypatch) -> None:
    built = []
    original = _record.record

    def checked(cls, values):
        assert list(values) == [f.name for f in dataclasses.fields(cls)]  # all, in order
        built.append(cls)
        return original(cls, values)

    for module in ("area", "cost", "power", "tco"):  # tigris.cost.tco is also a function
        monkeypatch.setattr(sys.modules[f"tigris.cost.{module}"], "record", checked)
    chip = load_chip(chip_id)
    for result in _results(chip, cost.load_assumptions()):
        plain = type(result)(
            **{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        )
        assert result == plain and hash(result) == hash(plain) and repr(result) == repr(plain)
        assert dataclasses.asdict(result) == dataclasses.asdict(plain)
        assert result.to_dict() == plain.to_dict()
        assert pickle.loads(pickle.dumps(result)) == plain
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.chip_id = "other"  # type: ignore[misc]
    assert len(set(built)) == 5  # area, cost, power, tco, energy per token


def test_area_totals_follow_a_replaced_field() -> None:
    area = cost.estimate_area(load_chip("tigris-1"))
    total = area.total_mm2
    bigger = dataclasses.replace(area, matrix_mm2=area.matrix_mm2 + 100.0)
    assert bigger.total_mm2 == pytest.approx(total + 100.0)
    assert bigger.die_area_mm2 == pytest.approx(area.die_area_mm2 + 100.0)


def test_part_figures_follow_new_parts_and_assumptions() -> None:
    """A chip with other parts, or other assumptions, is figured afresh (the memo is keyed
    by the parts' identity and lives on the assumptions' section)."""
    assumptions = cost.load_assumptions()
    chip = load_chip("tigris-1")
    first = cost.estimate_area(chip, assumptions)
    matrix = chip.matrix.model_copy(update={"rows": chip.matrix.rows * 2})
    wider = chip.model_copy(update={"matrix": matrix})
    assert cost.estimate_area(wider, assumptions).matrix_mm2 == pytest.approx(2 * first.matrix_mm2)
    links = [
        link.model_copy(update={"bandwidth_unidir": 2 * link.bandwidth_unidir})
        for link in chip.links
    ]
    linked = chip.model_copy(update={"links": links})
    assert cost.estimate_area(linked, assumptions).link_mm2 == pytest.approx(2 * first.link_mm2)
    memory = chip.memory.model_copy(
        update={"dram": chip.memory.dram.model_copy(update={"num_stacks": 12})}
    )
    stacked = chip.model_copy(update={"memory": memory})
    assert cost.estimate_area(stacked, assumptions).memory_phy_mm2 == pytest.approx(
        2 * first.memory_phy_mm2
    )
    assert cost.estimate_cost(stacked, assumptions).package_cost_usd > (
        cost.estimate_cost(chip, assumptions).package_cost_usd
    )
    area = assumptions.area
    denser = assumptions.model_copy(
        update={
            "area": area.model_copy(
                update={"noc_transistors_per_core": 2 * area.noc_transistors_per_core}
            )
        }
    )
    assert cost.estimate_area(chip, denser).noc_mm2 == pytest.approx(2 * first.noc_mm2)
    assert cost.estimate_area(chip, assumptions) == first


def test_part_memo_is_bounded_and_holds_its_parts(monkeypatch) -> None:
    from tigris.cost import coefficients

    monkeypatch.setattr(coefficients, "_MAX_PART_LOOKUPS", 3)
    assumptions = cost.load_assumptions()
    chip = load_chip("tigris-1")
    expected = []
    for rows in (32, 64, 96, 128, 160):
        matrix = chip.matrix.model_copy(update={"rows": rows})
        variant = chip.model_copy(update={"matrix": matrix})
        expected.append(cost.estimate_area(variant, cost.load_assumptions()))
        assert cost.estimate_area(variant, assumptions) == expected[-1]
        assert len(assumptions.area._part_lookups) <= 3
    for entry in assumptions.area._part_lookups.values():
        parts, _ = entry
        assert all(part is None or isinstance(part, BaseModel) for part in parts)


def test_dram_cost_follows_other_package_assumptions() -> None:
    """The DRAM part's memoised cost lives on the whole assumptions: a copy with other
    package prices (and the same area section) prices it afresh."""
    assumptions = cost.load_assumptions()
    chip = load_chip("tigris-1")
    before = cost.estimate_cost(chip, assumptions)
    package = assumptions.package
    dearer = assumptions.model_copy(
        update={
            "package": package.model_copy(
                update={"hbm_usd_per_gb": {k: 2 * v for k, v in package.hbm_usd_per_gb.items()}}
            )
        }
    )
    assert dearer.area is assumptions.area
    assert cost.estimate_cost(chip, dearer).memory_cost_usd == 2 * before.memory_cost_usd
    assert cost.estimate_cost(chip, assumptions) == before
