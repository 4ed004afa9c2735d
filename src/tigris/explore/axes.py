"""Axes of a design space: a dotted path into the chip spec and the values it takes.

In the sweep file an axis is one of
    matrix.rows: [64, 128, 256]                                  a list
    matrix.clock: {range: ['1.2 GHz', '2.0 GHz'], step: '0.2 GHz'}  a linear range (ends in)
    matrix.num_cores: {range: [2, 8], num: 4}                     a linear range of num values
    memory.dram.bandwidth: {log_range: ['2 TB/s', '16 TB/s'], num: 4}   geometric
    matrix.cols: {log_range: [64, 512], factor: 2}                geometric by a factor
Quantities with units become SI floats; integer ends and steps give integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tigris.errors import SpecError
from tigris.explore.quantity import parse_any_quantity

Value = int | float | str | bool

MAX_AXIS_VALUES = 100_000


@dataclass(frozen=True)
class Axis:
    """One swept parameter: `path` into the chip spec, the `values` it takes (SI), and the
    quantities as `written` (so the chip can check their dimension against the field)."""

    path: str
    values: tuple[Value, ...]
    written: tuple[str, ...] = ()


def _scalar(value: Any, where: str) -> Value:
    """A list item: numbers stay, quantity strings become SI, other strings stay (e.g. 'ws')."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if value and (value[0].isdigit() or value[0] in "+-."):
            try:
                return parse_any_quantity(value)
            except SpecError as error:
                raise SpecError(error.message, key_path=where, hint=error.hint) from None
        return value
    raise SpecError(
        f"an axis value must be a number, quantity or word, got {value!r}", key_path=where
    )


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"expected a number or quantity, got {value!r}", key_path=where)
    if isinstance(value, str):
        try:
            return parse_any_quantity(value)
        except SpecError as error:
            raise SpecError(error.message, key_path=where, hint=error.hint) from None
    return value


def _ends(spec: dict[str, Any], key: str, where: str) -> tuple[int | float, int | float]:
    ends = spec[key]
    if not isinstance(ends, list) or len(ends) != 2:
        raise SpecError(f"{key} takes [start, stop], got {ends!r}", key_path=f"{where}.{key}")
    return _number(ends[0], f"{where}.{key}[0]"), _number(ends[1], f"{where}.{key}[1]")


def _count(spec: dict[str, Any], where: str) -> int:
    num = spec["num"]
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise SpecError(f"num must be a positive integer, got {num!r}", key_path=f"{where}.num")
    if num > MAX_AXIS_VALUES:  # the values are listed: bound them before, not after
        raise SpecError(
            f"num {num} is more values than an axis may have (at most {MAX_AXIS_VALUES})",
            key_path=f"{where}.num",
        )
    return num


def _linear(spec: dict[str, Any], where: str) -> list[int | float]:
    start, stop = _ends(spec, "range", where)
    if stop < start:
        raise SpecError(f"empty range: stop {stop:g} is below start {start:g}", key_path=where)
    if ("step" in spec) == ("num" in spec):
        raise SpecError("a range takes exactly one of step or num", key_path=where)
    if "num" in spec:
        num = _count(spec, where)
        if num == 1:
            return [start]
        values = [start + (stop - start) * i / (num - 1) for i in range(num)]
        if all(isinstance(v, int) for v in (start, stop)):
            rounded = [round(v) for v in values]
            if all(abs(a - b) < 1e-9 for a, b in zip(rounded, values, strict=True)):
                return rounded
        return values
    step = _number(spec["step"], f"{where}.step")
    if step <= 0:
        raise SpecError(f"step must be positive, got {step!r}", key_path=f"{where}.step")
    count = math.floor((stop - start) / step * (1 + 1e-12)) + 1
    if count > MAX_AXIS_VALUES:
        raise SpecError(f"range has {count} values (at most {MAX_AXIS_VALUES})", key_path=where)
    return [start + i * step for i in range(count)]


def _geometric(spec: dict[str, Any], where: str) -> list[int | float]:
    start, stop = _ends(spec, "log_range", where)
    if start <= 0 or stop <= 0:
        raise SpecError("a log range needs positive ends", key_path=where)
    if stop < start:
        raise SpecError(f"empty range: stop {stop:g} is below start {start:g}", key_path=where)
    if ("factor" in spec) == ("num" in spec):
        raise SpecError("a log_range takes exactly one of factor or num", key_path=where)
    integral = isinstance(start, int) and isinstance(stop, int)
    if "num" in spec:
        num = _count(spec, where)
        ratio = (stop / start) ** (1 / (num - 1)) if num > 1 else 1.0
        values: list[int | float] = [start * ratio**i for i in range(num)]
    else:
        factor = _number(spec["factor"], f"{where}.factor")
        if factor <= 1:
            raise SpecError(f"factor must exceed 1, got {factor!r}", key_path=f"{where}.factor")
        count = math.floor(math.log(stop / start) / math.log(factor) + 1e-9) + 1
        if count > MAX_AXIS_VALUES:
            raise SpecError(
                f"log_range has {count} values (at most {MAX_AXIS_VALUES})", key_path=where
            )
        values = [start * factor**i for i in range(count)]
        integral = integral and isinstance(factor, int)
    if integral:
        rounded = [round(v) for v in values]
        if all(abs(a - b) <= 1e-9 * b for a, b in zip(rounded, values, strict=True)):
            return rounded
    return values


_FORMS = {"range": _linear, "log_range": _geometric}
_KEYS = {"range": {"range", "step", "num"}, "log_range": {"log_range", "factor", "num"}}


def parse_axis(path: str, spec: Any, *, where: str) -> Axis:
    """An Axis from its sweep-file form; SpecError for empty or malformed axes."""
    if isinstance(spec, list):
        if not spec:
            raise SpecError("empty axis: give at least one value", key_path=where)
        values = [_scalar(item, f"{where}[{index}]") for index, item in enumerate(spec)]
    elif isinstance(spec, dict):
        forms = [form for form in _FORMS if form in spec]
        if len(forms) != 1:
            raise SpecError(
                "an axis is a list, {range: [start, stop], step|num} or "
                "{log_range: [start, stop], factor|num}",
                key_path=where,
            )
        unknown = set(spec) - _KEYS[forms[0]]
        if unknown:
            raise SpecError(f"unknown key {sorted(unknown)[0]!r} in {forms[0]}", key_path=where)
        values = _FORMS[forms[0]](spec, where)
    else:
        raise SpecError(
            f"an axis is a list of values or a range mapping, got {spec!r}", key_path=where
        )
    if len(set(map(repr, values))) != len(values):
        raise SpecError("axis values repeat", key_path=where)
    return Axis(path, tuple(values), _quantities_written(spec))


def _quantities_written(spec: Any) -> tuple[str, ...]:
    items = spec if isinstance(spec, list) else [*spec.get("range", spec.get("log_range", []))]
    if isinstance(spec, dict) and "step" in spec:
        items.append(spec["step"])
    return tuple(item for item in items if isinstance(item, str) and item[:1].isdigit())
