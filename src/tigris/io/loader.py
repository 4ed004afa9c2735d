"""Read YAML/JSON files strictly and validate them into specs with located errors.

Duplicate keys are errors (PyYAML and json silently keep the last one). Nothing in a file
is executed: YAML is read with the safe loader, no tags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tigris.errors import SpecError

SpecT = TypeVar("SpecT", bound=BaseModel)


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, rejecting duplicate mapping keys: libyaml's C parser where PyYAML
    has it (the same documents and marks, ~10x faster: presets and the cost assumptions
    are read at every start), the pure-Python one otherwise."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise SpecError(
                f"duplicate key {key!r} (line {line}); each key may appear once",
                key_path=str(key),
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _reject_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecError(f"duplicate key {key!r}; each key may appear once", key_path=key)
        result[key] = value
    return result


def parse_text(text: str, *, file: str, json_only: bool = False) -> Any:
    """Parse YAML (or JSON, a subset) text strictly."""
    try:
        if json_only:
            return json.loads(text, object_pairs_hook=_reject_duplicate_pairs)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict safe loader
    except SpecError as error:
        raise error.with_file(file) from None
    except json.JSONDecodeError as error:
        raise SpecError(f"not valid JSON: {error.msg} (line {error.lineno})", file=file) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"not valid YAML: {problem}{where}", file=file) from None


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON file that must hold a mapping at its top level."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("file not found", file=str(path), hint="check the path")
    text = path.read_text(encoding="utf-8")
    data = parse_text(text, file=str(path), json_only=path.suffix == ".json")
    if not isinstance(data, dict):
        raise SpecError("expected a mapping of keys to values at the top level", file=str(path))
    return data


def format_location(loc: tuple[Any, ...]) -> str:
    """('memory', 'dram', 'bandwidth') -> 'memory.dram.bandwidth'; list indices as [i]."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def _clean_message(error: dict[str, Any]) -> tuple[str, list[Any]]:
    """A one-line message from one pydantic error, and its location without union tags."""
    loc = [
        part
        for part in error["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    ]
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (not part of this spec)", loc
    if kind == "missing":
        return "required field is missing", loc
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    given = error.get("input")
    if kind not in ("value_error",) and not isinstance(given, (dict, list)):
        message = f"{message} (given {given!r})"
    return message, loc


def _path_in_data(data: Any, loc: list[Any]) -> list[Any]:
    """Drop the parts of a pydantic location that are not in the user's data.

    Discriminated unions add their tag ('tensor_core') to the location; the user wrote
    `matrix.clock`, not `matrix.tensor_core.clock`.
    """
    path: list[Any] = []
    node = data
    for part in loc:
        is_tag = (
            isinstance(node, dict)
            and isinstance(part, str)
            and part not in node
            and part in {v for v in node.values() if isinstance(v, str)}
        )
        if is_tag:
            continue  # a union tag
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return path


def validate_spec(model: type[SpecT], data: Any, *, file: str | None = None) -> SpecT:
    """Validate `data` into `model`, turning the first pydantic error into a SpecError."""
    try:
        return model.model_validate(data, context={"strict_units": True})
    except ValidationError as error:
        first = error.errors()[0]
        message, loc = _clean_message(first)
        loc = _path_in_data(data, loc)
        raise SpecError(message, file=file, key_path=format_location(tuple(loc)) or None) from None
