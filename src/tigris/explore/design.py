"""A design: the base chip with the sweep's parameters set, derived values computed, validated.

The base chip is validated once from its file (units required there) and dumped to SI
floats, and that mapping validated once more into `base_chip`. A design hands pydantic the
base chip's validated parts where it changes nothing, and dicts only along the paths it
sets (validated without the file's unit rule, since its values are SI already): pydantic
keeps a given model instance as it is, so only the changed submodels and the chip's own
fields and validators run again. The chip is the one a full validation of the changed SI
mapping gives, errors included (same messages and locations), for a few microseconds.

Paths are dotted (`matrix.rows`); list items are numbers (`memory.sram.1.capacity`, also
written `memory.sram[1].capacity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ValidationError

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
    (missing dict keys are created, so the chip's validation names an unknown field). A
    validated model on the path becomes a dict of its fields (a fresh one, so nothing
    validated is changed); one off the path stays as it is."""
    if isinstance(data, BaseModel):
        data = _model_input(data)
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


def _model_input(node: BaseModel) -> dict[str, Any]:
    """A validated model as validation input: its fields, submodels left as instances."""
    return {name: getattr(node, name) for name in type(node).model_fields}


_MAX_VALIDATED = 4096


def _values_key(field_name: str, values: list[Any]) -> tuple | None:
    """A cache key for the submodel that `values` make, or None where none is safe: a
    value that is unhashable, or a zero (0.0 == -0.0, but a field may keep either; `in`
    compares with ==, so False and any other zero-like value count as zeros too)."""
    if 0 in values:
        return None
    key = (field_name, tuple(map(type, values)), tuple(values))
    try:
        hash(key)
    except TypeError:
        return None
    return key


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

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the per-process caches below (a worker builds its own)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @cached_property
    def _chip_paths(self) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
        """The values a design sets, grouped by the chip field they fall under, in order:
        (field, ((name in the environment, path below the field), ...))."""
        paths = [(axis.path, split_path(axis.path)) for axis in self.axes]
        paths += [(d.target, split_path(d.target)) for d in self.derived if d.sets_chip]
        groups: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for name, keys in paths:
            groups.setdefault(keys[0], []).append((name, keys[1:]))
        return tuple((key, tuple(group)) for key, group in groups.items())

    @cached_property
    def base_chip(self) -> Chip:
        """The base chip validated from the SI mapping (once per process)."""
        return Chip.model_validate(self.base)

    @cached_property
    def _base_input(self) -> dict[str, Any]:
        return _model_input(self.base_chip)

    @cached_property
    def _validated(self) -> dict[tuple, Any]:
        """Validated submodels (the chip's matrix, memory ...) by the values set in them."""
        return {}

    def chip_mapping(self, env: Mapping[str, Any], chip_id: str | None = None) -> Any:
        """The design's chip as an SI mapping (the base's, with the design's values set)."""
        data: Any = self.base if chip_id is None else {**self.base, "id": chip_id}
        for field_name, group in self._chip_paths:
            for name, rest in group:
                data = set_path(data, (field_name, *rest), env[name])
        return data

    def _group_keys(self, env: Mapping[str, Any]) -> list[tuple[str, Any, list, tuple | None]]:
        """Per chip field the design sets: (field, its group, the values, the cache key)."""
        return [
            (field_name, group, values, _values_key(field_name, values))
            for field_name, group in self._chip_paths
            for values in ([env[name] for name, _ in group],)
        ]

    def _chip_input(self, chip_id: str | None, keys: list) -> tuple[dict, list]:
        """`chip_mapping`'s content as validation input: the base chip's validated parts
        where the design changes nothing, a submodel validated before for the same values,
        dicts elsewhere; and the (field, key) of the submodels still to validate."""
        data = dict(self._base_input)
        if chip_id is not None:
            data["id"] = chip_id
        validated = self._validated
        pending = []
        for field_name, group, values, key in keys:
            if key is not None and key in validated:
                data[field_name] = validated[key]
                continue
            node = data.get(field_name, {})
            for (_, rest), value in zip(group, values, strict=True):
                node = set_path(node, rest, value) if rest else value
            data[field_name] = node
            if key is not None:
                pending.append((field_name, key))
        return data, pending

    @cached_property
    def _after_validators(self) -> tuple[Any, ...] | None:
        """The Chip's model validators when a chip of validated parts can be assembled
        without pydantic: every one runs after the fields ('after' mode), and no field
        validator or post-init runs on a field; None otherwise."""
        decorators = Chip.__pydantic_decorators__
        if decorators.field_validators or decorators.validators or decorators.root_validators:
            return None
        if Chip.__pydantic_post_init__ is not None or Chip.__private_attributes__:
            return None
        checks = tuple(decorators.model_validators.values())
        if any(check.info.mode != "after" for check in checks):
            return None
        return tuple(check.func for check in checks)

    @cached_property
    def _base_fields(self) -> tuple[dict[str, Any], frozenset[str]]:
        """The base chip's field values (no cached figure) and the fields it was given."""
        chip = self.base_chip
        values = {name: chip.__dict__[name] for name in Chip.model_fields}
        return values, frozenset(chip.model_fields_set)

    def _assemble(self, parts: dict[str, Any], chip_id: str | None) -> Chip | None:
        """The chip that validating the base's fields with `parts` (submodels validated
        before, as parts of a valid chip) gives: the base chip's fields with those set
        (as `model_construct` sets them, without its per-field defaults pass), its model
        validators run. None where that is not known to be the same (then `build`
        validates)."""
        checks = self._after_validators
        if checks is None or not (chip_id is None or type(chip_id) is str):
            return None
        if chip_id is not None:
            parts["id"] = chip_id
        values, given = self._base_fields
        fields = dict(values)
        fields.update(parts)
        chip = Chip.__new__(Chip)
        setattr_ = object.__setattr__
        setattr_(chip, "__dict__", fields)
        given_now = set(given)
        given_now.update(parts)
        setattr_(chip, "__pydantic_fields_set__", given_now)
        setattr_(chip, "__pydantic_extra__", None)
        setattr_(chip, "__pydantic_private__", None)
        for check in checks:
            try:
                if check(chip) is not chip:
                    return None
            except Exception:  # validation names the error
                return None
        return chip

    def build(
        self, params: Mapping[str, Value], chip_id: str | None = None
    ) -> tuple[Chip, dict[str, Any]]:
        """The design's chip (renamed `chip_id`: a design is not the base product, so no
        per-product figure such as a list price may attach to it) and its environment.

        Where every field the design sets is a submodel validated before for the same
        values, the chip is assembled from them (the same chip validation gives, for a
        fraction of its time); otherwise validated.

        Raises ValidationError for an invalid combination and ArithmeticError/ValueError/
        TypeError for an undefined derived value."""
        env = self.environment(params)
        keys = self._group_keys(env)
        validated = self._validated
        parts = {}
        for field_name, _, _, key in keys:
            part = validated.get(key) if key is not None else None
            if part is None:
                break
            parts[field_name] = part
        else:
            chip = self._assemble(parts, chip_id)
            if chip is not None:
                return chip, env
        data, pending = self._chip_input(chip_id, keys)
        chip = Chip.model_validate(data)  # errors name the field, as a full mapping's would
        if len(validated) > _MAX_VALIDATED:
            validated.clear()
        for field_name, key in pending:
            part = getattr(chip, field_name)
            if isinstance(part, BaseModel):  # a model is a pure function of its input
                validated[key] = part
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
