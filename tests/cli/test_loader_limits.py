"""The strict loader's bounds: whatever a file holds, reading it is a value or a one-line
SpecError naming the file, in milliseconds and bounded memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tigris.errors import SpecError, given, shorten
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip_with_overrides
from tigris.io.loader import MAX_EXPANDED_VALUES, load_mapping, parse_text, validate_spec
from tigris.units import UnitError, parse_quantity

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def _error(text: str, **kwargs: object) -> str:
    with pytest.raises(SpecError) as caught:
        parse_text(text, file="f.yaml", **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("f.yaml: ") and "\n" not in message
    return message


def test_alias_bomb_is_rejected_in_milliseconds() -> None:
    started = time.perf_counter()
    assert "YAML aliases expand to more than" in _error(BOMB)
    assert time.perf_counter() - started < 0.5


def test_aliases_within_the_bound_still_work() -> None:
    data = parse_text("a: &a [1, 2, 3]\nb: *a\nc: {<<: {x: 1}, y: 2}\n", file="f.yaml")
    assert data == {"a": [1, 2, 3], "b": [1, 2, 3], "c": {"x": 1, "y": 2}}
    wide = "a: &a [" + ", ".join(["1"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 50) + "]\n"
    assert len(parse_text(wide, file="f.yaml")["b"]) == 50  # 51,000 values < the bound
    assert MAX_EXPANDED_VALUES >= 100_000


def test_alias_cycle_nan_deep_nesting_and_odd_keys() -> None:
    assert "contains itself" in _error("a: &a [*a]\n")
    assert "not a finite number" in _error("x: .nan\n")
    assert "not a finite number" in _error("x: -.inf\n")
    assert "nest" in _error("x: " + "[" * 20000 + "]" * 20000)  # libyaml stops at 1000
    assert "key must be a plain value" in _error("? [a, b]\n: 1\n")
    assert "cannot read a value" in _error("x: " + "9" * 5000 + "\n")


def test_json_rejects_nan_infinity_and_overflow() -> None:
    assert "NaN is not a finite number" in _error('{"a": NaN}', json_only=True)
    assert "Infinity is not a finite number" in _error('{"a": -Infinity}', json_only=True)
    assert "too large" in _error('{"a": 1e400}', json_only=True)
    assert "nested too deeply" in _error("[" * 100000 + "]" * 100000, json_only=True)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"\x00\x01binary", "binary file"),
        ("caf\xe9: 1\n".encode("latin-1"), "not UTF-8"),
        (b"- a\n- b\n", "got a list"),
    ],
)
def test_files_that_are_not_mappings_of_text(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "chip.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=fragment) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value)


def test_special_files_are_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it for reading would block
    with pytest.raises(SpecError, match="not a regular file"):
        load_mapping(fifo)
    with pytest.raises(SpecError, match="is a directory"):
        load_mapping(tmp_path)
    with pytest.raises(SpecError, match="cannot read"):
        load_mapping(tmp_path / "fifo.yaml" / "x.yaml")
    with pytest.raises(SpecError, match="file not found"):
        load_mapping(tmp_path / "none.yaml")


def test_messages_quote_values_briefly() -> None:
    assert shorten("x" * 500) == "x" * 77 + "..."
    assert given([[1] * 10**6]) == "a list of 1 items"
    assert len(given("y" * 10**6)) == 80
    with pytest.raises(UnitError) as caught:
        parse_quantity(["lol"] * 10**6, "power")
    assert len(str(caught.value)) < 120
    with pytest.raises(SpecError) as caught:
        validate_spec(Chip, {"id": "z" * 10**5, "name": 3})
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "override",
    [
        "memory.dram.capacity=.nan GB",
        "matrix.clock=inf GHz",
        "tdp=1e400 W",
        "memory.dram.capacity=1e300 EB",
        "calibration.matrix_fraction=.nan",
        f"matrix.num_sms={10**30}",
        "notes=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
        "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], "
        "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]",
    ],
)
def test_overrides_reject_non_finite_huge_and_bombs(override: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load_chip_with_overrides("h100-sxm", [override])
    assert len(str(caught.value)) < 300
    assert time.perf_counter() - started < 1.0
