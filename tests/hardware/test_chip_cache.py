"""A chip's derived figures are cached per instance; a copy with other fields recomputes
them (pydantic's model_copy copies the instance's __dict__, cached values included)."""

from __future__ import annotations

import pickle

import pytest

from tigris.errors import UnsupportedError
from tigris.hardware import load_chip


def test_cached_figures_follow_model_copy() -> None:
    chip = load_chip("tigris-1")
    figures = (
        chip.onchip_capacity_bytes,
        chip.peak_flop_per_s("bf16"),
        chip.vector_flop_per_s(),
        chip.dram_bandwidth_bytes_per_s,
        chip.dram_capacity_bytes,
        chip.scale_up_unidir_bytes_per_s,
        tuple(chip.supported_dtypes()),
    )
    matrix = chip.matrix.model_copy(update={"rows": chip.matrix.rows * 2})
    sram = [level.model_copy(update={"instances": 8}) for level in chip.memory.sram]
    dram = chip.memory.dram.model_copy(update={"bandwidth": 1e12, "capacity": 1e11})
    memory = chip.memory.model_copy(update={"sram": sram, "dram": dram})
    copy = chip.model_copy(update={"matrix": matrix, "memory": memory, "links": []})
    assert copy.peak_flop_per_s("bf16") == 2 * figures[1]
    assert copy.onchip_capacity_bytes == sum(level.capacity * 8 for level in sram)
    assert copy.dram_bandwidth_bytes_per_s == 1e12
    assert copy.dram_capacity_bytes == 1e11
    assert copy.scale_up_unidir_bytes_per_s == 0
    # the original keeps its own, and a plain copy or a pickle keeps the same figures
    assert chip.peak_flop_per_s("bf16") == figures[1]
    assert chip.onchip_capacity_bytes == figures[0]
    for same in (chip.model_copy(), pickle.loads(pickle.dumps(chip))):
        assert same.onchip_capacity_bytes == figures[0]
        assert same.vector_flop_per_s() == figures[2]
    # cached values are not fields: not dumped, not compared
    assert "onchip_capacity_bytes" not in chip.model_dump()
    assert chip == load_chip("tigris-1")


def test_supported_dtypes_is_a_fresh_list() -> None:
    chip = load_chip("tigris-1")
    chip.supported_dtypes().clear()
    assert chip.supported_dtypes()


def test_missing_dtype_raises_every_time() -> None:
    chip = load_chip("tigris-1")
    for _ in range(2):
        with pytest.raises(UnsupportedError):
            chip.peak_flop_per_s("fp64")


def test_derived_values_are_built_once_and_dropped_by_model_copy() -> None:
    """Spec.derived: a value another module computes from a frozen spec (the tile engine's
    per-chip constants) is kept with it, and a copy with changed fields builds its own."""
    from tigris.hardware.presets import load_chip

    chip = load_chip("tigris-1")
    calls = []

    def build(spec):
        calls.append(spec)
        return spec.matrix.rows

    assert chip.derived("test", build) == chip.derived("test", build) == chip.matrix.rows
    assert len(calls) == 1
    matrix = chip.matrix.model_copy(update={"rows": chip.matrix.rows * 2})
    wider = chip.model_copy(update={"matrix": matrix})
    assert wider.derived("test", build) == 2 * chip.matrix.rows and len(calls) == 2
    assert wider != chip and chip.model_dump() == load_chip("tigris-1").model_dump()
