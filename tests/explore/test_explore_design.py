"""The design builder agrees with the --set route (apply_override + validate_spec) and never
changes the base it shares."""

from __future__ import annotations

import copy
import itertools
import pickle
from pathlib import Path

import pytest
from explore_sweeps import write_sweep
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tigris.explore import load_sweep
from tigris.explore.design import validation_reason
from tigris.hardware.chip import Chip
from tigris.hardware.presets import chip_path
from tigris.io.loader import load_mapping, validate_spec
from tigris.io.overrides import apply_override

SPACE = """
name: space
base: tigris-1
axes:
  matrix.rows: [32, 64, 128, 256]
  matrix.clock: ['1.2 GHz', '1.75 GHz', '2.2 GHz']
  memory.sram[1].capacity: ['64 MiB', '256 MiB']
  memory.dram.num_stacks: [4, 6, 8]
derived:
  memory.dram.capacity: "memory.dram.num_stacks * '36 GB'"
  tdp: "'700 W' * matrix.clock / '1.75 GHz'"
workloads:
  - {task: synthetic, function: sphere, inputs: [matrix.rows]}
objectives:
  - {metric: f1, goal: min}
"""
WRITTEN = {
    "matrix.clock": {1.2e9: "1.2 GHz", 1.75e9: "1.75 GHz", 2.2e9: "2.2 GHz"},
    "memory.sram.1.capacity": {64 * 2**20: "64 MiB", 256 * 2**20: "256 MiB"},
}


def test_builder_equals_the_override_route(tmp_path_factory) -> None:
    sweep = load_sweep(write_sweep(tmp_path_factory.mktemp("space"), SPACE))
    base_before = copy.deepcopy(sweep.space.base)
    raw = load_mapping(chip_path("tigris-1"))

    @settings(max_examples=40, deadline=None)
    @given(st.tuples(*(st.sampled_from(axis.values) for axis in sweep.axes)))
    def check(values: tuple) -> None:
        params = dict(zip([axis.path for axis in sweep.axes], values, strict=True))
        chip, env = sweep.space.build(params)
        data = raw
        for path, value in params.items():
            data = apply_override(data, path, WRITTEN.get(path, {}).get(value, value))
        stacks = params["memory.dram.num_stacks"]
        data = apply_override(data, "memory.dram.capacity", f"{36 * stacks} GB")
        clock_ghz = params["matrix.clock"] / 1e9
        data = apply_override(data, "tdp", f"{700 * clock_ghz / 1.75} W")
        expected = validate_spec(Chip, data).model_dump()
        built = chip.model_dump()
        assert built.pop("tdp") == pytest.approx(expected.pop("tdp"), rel=1e-12)
        assert built == expected

    check()
    assert sweep.space.base == base_before


def test_base_point_is_found_in_the_space(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, SPACE))
    assert sweep.base_params() is None  # the base's 128 MiB CMEM is not an axis value
    with_base = SPACE.replace("['64 MiB', '256 MiB']", "['64 MiB', '128 MiB']")
    sweep = load_sweep(write_sweep(tmp_path, with_base))
    assert sweep.base_params() == {
        "matrix.rows": 128,
        "matrix.clock": 1.75e9,
        "memory.sram.1.capacity": 128 * 2**20,
        "memory.dram.num_stacks": 6,
    }


def _full_validation(space, params, chip_id=None):
    """The plain route: the whole SI mapping with the design's values, validated at once."""
    return Chip.model_validate(space.chip_mapping(space.environment(params), chip_id))


def test_build_equals_validating_the_whole_mapping(tmp_path: Path) -> None:
    """`build` reuses the base chip's validated parts and submodels validated for the same
    values before; the chip is the one the whole mapping gives, whatever the order."""
    sweep = load_sweep(write_sweep(tmp_path, SPACE))
    space = sweep.space
    points = [
        dict(zip([a.path for a in sweep.axes], values, strict=True))
        for values in itertools.product(*(axis.values for axis in sweep.axes))
    ]
    for round_ in range(2):  # the second round takes the cached submodels
        for index, params in enumerate(points):
            chip_id = f"design-{round_}-{index}"
            chip, _ = space.build(params, chip_id=chip_id)
            expected = _full_validation(space, params, chip_id)
            assert chip == expected
            assert chip.model_dump() == expected.model_dump()
            assert chip.model_fields_set == expected.model_fields_set
            assert chip.onchip_capacity_bytes == expected.onchip_capacity_bytes
            assert chip.peak_flop_per_s("bf16") == expected.peak_flop_per_s("bf16")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("matrix.rows", 0),
        ("matrix.rows", -4),
        ("memory.sram.1.capacity", -1.0),
        ("memory.dram.num_stacks", 0.5),
        ("matrix.rows", "many"),
    ],
)
def test_build_errors_are_the_whole_mappings(tmp_path: Path, path: str, value) -> None:
    """A bad value fails with the message and location of the whole mapping's validation,
    also after the same submodel was built valid (nothing invalid is cached)."""
    sweep = load_sweep(write_sweep(tmp_path, SPACE))
    space = sweep.space
    good = {axis.path: axis.values[0] for axis in sweep.axes}
    space.build(good)
    bad = {**good, path: value}
    for _ in range(2):
        with pytest.raises(ValidationError) as built:
            space.build(bad)
        with pytest.raises(ValidationError) as whole:
            _full_validation(space, bad)
        assert built.value.errors(include_context=False) == whole.value.errors(
            include_context=False
        )
        assert validation_reason(built.value) == validation_reason(whole.value)
    assert space.build(good)[0] == _full_validation(space, good)


def test_pickled_space_leaves_its_caches_behind(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, SPACE))
    params = {axis.path: axis.values[-1] for axis in sweep.axes}
    chip, _ = sweep.space.build(params)
    copy_ = pickle.loads(pickle.dumps(sweep.space))
    assert "base_chip" not in vars(copy_) and "_validated" not in vars(copy_)
    assert copy_.build(params)[0] == chip


PARTS_ONLY = SPACE.replace("""  tdp: "'700 W' * matrix.clock / '1.75 GHz'"\n""", "")


def test_chip_assembled_from_validated_parts_equals_validation(tmp_path: Path, monkeypatch) -> None:
    """Where every field a design sets is a submodel validated before (the second round), the
    chip is assembled from the parts without pydantic: the chip validation gives, fields set
    included, with no cached figure carried over from the base chip."""
    sweep = load_sweep(write_sweep(tmp_path, PARTS_ONLY))
    space = sweep.space
    space.base_chip.peak_flop_per_s("bf16")  # a cached figure on the base must not leak
    points = [
        dict(zip([a.path for a in sweep.axes], values, strict=True))
        for values in itertools.product(*(axis.values for axis in sweep.axes))
    ]
    for params in points:
        space.build(params, chip_id="first")
    validations = []
    original = Chip.model_validate.__func__

    def counted(cls, *args, **kwargs):
        validations.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Chip, "model_validate", classmethod(counted))
    for index, params in enumerate(points):
        chip, _ = space.build(params, chip_id=f"design-{index}")
        assert "_peaks" not in vars(chip)
        monkeypatch.undo()
        expected = _full_validation(space, params, f"design-{index}")
        monkeypatch.setattr(Chip, "model_validate", classmethod(counted))
        assert chip == expected
        assert chip.model_dump() == expected.model_dump()
        assert chip.model_fields_set == expected.model_fields_set
        assert chip.peak_flop_per_s("bf16") == expected.peak_flop_per_s("bf16")
        assert chip.onchip_capacity_bytes == expected.onchip_capacity_bytes
        assert chip.dram_capacity_bytes == expected.dram_capacity_bytes
    assert not validations  # every chip of the second round was assembled
    assert space.build(points[0])[0].id == space.base_chip.id


def test_assembled_chip_runs_the_chip_validators(tmp_path: Path) -> None:
    """A model validator of the chip that rejects the assembled chip sends the design
    through validation, which gives its error."""
    sweep = load_sweep(write_sweep(tmp_path, PARTS_ONLY))
    space = sweep.space
    params = {axis.path: axis.values[0] for axis in sweep.axes}
    space.build(params)
    assert space._after_validators  # Chip's matrix/kind check

    def reject(chip):
        raise ValueError("rejected")

    space.__dict__["_after_validators"] = (reject,)
    chip, _ = space.build(params, chip_id="x")
    assert chip == _full_validation(space, params, "x")


def test_assembled_chip_copies_and_updates_like_a_validated_one(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, PARTS_ONLY))
    space = sweep.space
    params = {axis.path: axis.values[1] for axis in sweep.axes}
    space.build(params)
    chip, _ = space.build(params, chip_id="assembled")
    expected = _full_validation(space, params, "assembled")
    assert type(chip.model_fields_set) is set
    for update in ({}, {"tdp": 500.0}, {"name": "other"}):
        assert chip.model_copy(update=update) == expected.model_copy(update=update)
    assert chip.model_copy(deep=True) == expected
    assert pickle.loads(pickle.dumps(chip)) == expected
    assert chip.model_dump_json() == expected.model_dump_json()
