"""A design: the base chip with the sweep's parameters set, derived values computed, validated.

The base chip is validated once from its file (units required there) and dumped to SI
floats; each design copies only the dicts on the paths it changes (the rest is shared) and
validates the result without the file's unit rule, since its values are SI already. That
keeps building a design to tens of microseconds.

Paths are dotted (`matrix.rows`); list items are numbers (`memory.sram.1.capacity`, also
written `memory.sram[1].capacity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tigris.errors import SpecError
from tigris.explore.axes import Axis, Value
from tigris.explore.expression import Expression
from tigris.hardware.chip import Chip
from tigris.io.loader import format_location


def normalize_path(path: str) -> str:
    """'memory.sram[1].capacity' -> 'memory.sram.1.capacity'."""
    return path.replace("]", "").replace("[", ".")


def split_path(path: str) -> tuple[str, ...]:
    return tuple(normalize_path(path).split("."))


def get_path(data: Any, keys: tuple[str, ...]) -> Any:
    """The value at `keys` in nested dicts/lists; KeyError if a key is missing."""
    node = data
    for key in keys:
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise KeyError(key)
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node[key]
        else:
            raise KeyError(key)
    return node


def set_path(data: Any, keys: tuple[str, ...], value: Any) -> Any:
    """A copy of `data` with `keys` set to `value`, copying only the containers on the path
    (missing dict keys are created, so the chip's validation names an unknown field)."""
    key, rest = keys[0], keys[1:]
    if isinstance(data, list):
        if not key.isdigit() or int(key) >= len(data):
            raise KeyError(key)
        copy_list = list(data)
        index = int(key)
        copy_list[index] = set_path(data[index], rest, value) if rest else value
        return copy_list
    if not isinstance(data, dict):
        raise KeyError(key)
    copy_dict = dict(data)
    copy_dict[key] = set_path(data.get(key, {}), rest, value) if rest else value
    return copy_dict


def is_chip_path(name: str) -> bool:
    """A derived key is a chip path if it starts with a Chip field; otherwise a variable."""
    return split_path(name)[0] in Chip.model_fields


def validation_reason(error: ValidationError) -> str:
    """One line from the first pydantic error: 'matrix.rows: must be > 0 (given 0)'."""
    first = error.errors()[0]
    loc = [
        part
        for part in first["loc"]
        if not (isinstance(part, str) and part in ("systolic", "tensor_core", "simd"))
    ]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field (not part of the chip spec)"
    where = format_location(tuple(loc))
    return f"{where}: {message}" if where else message


@dataclass(frozen=True)
class Derived:
    """`target` (a chip path or a variable name) computed from `expression`."""

    target: str
    expression: Expression

    @property
    def sets_chip(self) -> bool:
        return is_chip_path(self.target)


@dataclass(frozen=True)
class DesignSpace:
    """The base chip (as an SI mapping), the axes and the derived parameters."""

    base: Mapping[str, Any]
    axes: tuple[Axis, ...]
    derived: tuple[Derived, ...]
    constants: Mapping[str, float]  # base-chip values the expressions read

    @property
    def size(self) -> int:
        size = 1
        for axis in self.axes:
            size *= len(axis.values)
        return size

    def environment(self, params: Mapping[str, Value]) -> dict[str, Any]:
        """Every name the expressions may read: constants, parameters, derived values.

        ArithmeticError/ValueError/TypeError from a derived expression propagate (the
        design is then recorded as infeasible with that reason)."""
        env: dict[str, Any] = dict(self.constants)
        env.update(params)
        for derived in self.derived:
            env[derived.target] = derived.expression.evaluate(env)
        return env

    def chip_mapping(self, env: Mapping[str, Any], chip_id: str | None = None) -> Any:
        data: Any = self.base if chip_id is None else {**self.base, "id": chip_id}
        for axis in self.axes:
            data = set_path(data, split_path(axis.path), env[axis.path])
        for derived in self.derived:
            if derived.sets_chip:
                data = set_path(data, split_path(derived.target), env[derived.target])
        return data

    def build(
        self, params: Mapping[str, Value], chip_id: str | None = None
    ) -> tuple[Chip, dict[str, Any]]:
        """The design's chip (renamed `chip_id`: a design is not the base product, so no
        per-product figure such as a list price may attach to it) and its environment.

        Raises ValidationError for an invalid combination and ArithmeticError/ValueError/
        TypeError for an undefined derived value."""
        env = self.environment(params)
        chip = Chip.model_validate(self.chip_mapping(env, chip_id))
        return chip, env


def resolve_constants(
    base: Mapping[str, Any], names: set[str], known: set[str], where: str
) -> dict[str, float]:
    """Values of base-chip fields read by expressions; SpecError for an unknown name."""
    constants: dict[str, float] = {}
    for name in sorted(names - known):
        try:
            value = get_path(base, split_path(name))
        except KeyError:
            raise SpecError(
                f"unknown name {name!r}",
                key_path=where,
                hint="an expression reads axes, derived names, or chip fields such as "
                "matrix.num_cores (SI units)",
            ) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{name!r} is not a number in the base chip", key_path=where)
        constants[name] = value
    return constants
