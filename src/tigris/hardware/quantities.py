"""Pydantic field types for dimensioned quantities written with their unit in YAML.

From a file (validation context `strict_units`) the unit is required: '80 GB'. Python code
may pass plain floats, taken to be SI already (a sweep setting `memory.dram.capacity`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from tigris.units import UnitError, parse_quantity

DType = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]

# Bytes per element of each dtype (int4/fp4 pack two per byte).
DTYPE_BYTES: dict[str, float] = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "bf16": 2,
    "fp16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
    "fp4": 0.5,
}


_T = TypeVar("_T")

MAX_COUNT = 2**31 - 1
"""The largest count a spec accepts (cores, arrays, PE rows, chips): int32's range, far
beyond any machine, so that a typo of many digits is an error rather than a silent
figure of 1e30."""

Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]
"""A positive count of things, at most MAX_COUNT."""

PositiveRate = Annotated[float, Field(gt=0)]
"""A positive finite rate per unit (MACs per PE per cycle, flop per core per cycle)."""


class cached_figure:  # noqa: N801 (used as a decorator, like functools.cached_property)
    """A figure computed from a frozen spec's fields on first read, then kept in the
    instance's __dict__: functools.cached_property without the lock that Python 3.11 takes
    on each first read (a sweep reads a few of these on every design's fresh chip)."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class Spec(BaseModel):
    """Base of every spec: frozen, unknown fields rejected, every float finite.

    A spec may cache figures derived from its fields (`cached_figure`, kept in the
    instance's __dict__ beside the fields); `model_copy(update=...)` drops them, since
    pydantic copies __dict__ whole and the copy's fields differ."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        ignored_types=(cached_figure,),
        allow_inf_nan=False,  # no float field of a spec means NaN or infinity
        # pydantic builds a spec class's validator when it first validates, not when the
        # class is made: a spec loaded from tigris.io.spec_cache's pickle never needs it
        defer_build=True,
    )

    def derived(self, key: str, build: Callable[[Self], _T]) -> _T:
        """A value another module derives from this frozen spec (an engine's per-chip
        constants), built on first request and kept with the spec like a cached_figure."""
        name = f"_derived_{key}"
        found = self.__dict__.get(name)
        if found is None:
            found = self.__dict__[name] = build(self)
        return found

    def value_json(self) -> str:
        """The spec's value as its JSON, made once and kept with the spec: the key by value
        of the step memos (`derived("value_json")`: tigris.parallel.step_memo,
        tigris.serving.step_time). The presets make it when they validate, so that one
        read from tigris.io.spec_cache needs no pydantic serializer (~40 ms to build)."""
        return self.derived("value_json", _dump_json)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        if update:
            fields = type(copied).model_fields
            for name in [name for name in copied.__dict__ if name not in fields]:
                del copied.__dict__[name]
        return copied


def _dump_json(spec: Spec) -> str:
    return spec.model_dump_json()


def _reader(dimension: str):
    def read(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return parse_quantity(value, dimension)
        strict = bool(info.context and info.context.get("strict_units"))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not strict:
            if not math.isfinite(value):  # nan passes every comparison check after this
                raise UnitError(f"must be a finite number, got {value}")
            return float(value)
        # Raises with the message that says what to write.
        return parse_quantity(value, dimension)

    return read


def _positive(value: float) -> float:
    if value <= 0:
        raise UnitError(f"must be positive, got {value:g} (SI)")
    return value


def _non_negative(value: float) -> float:
    if value < 0:
        raise UnitError(f"must not be negative, got {value:g} (SI)")
    return value


def _quantity(dimension: str, check=_positive):
    return Annotated[float, BeforeValidator(_reader(dimension)), AfterValidator(check)]


Capacity = _quantity("capacity")
Bandwidth = _quantity("bandwidth")
FlopRate = _quantity("flop_rate")
Frequency = _quantity("frequency")
Power = _quantity("power")
Area = _quantity("area")
Length = _quantity("length")
Duration = _quantity("time", _non_negative)
Energy = _quantity("energy", _non_negative)


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of `dtype`."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        from tigris.errors import SpecError

        raise SpecError(
            f"unknown dtype {dtype!r}", hint=f"one of {', '.join(DTYPE_BYTES)}"
        ) from None
