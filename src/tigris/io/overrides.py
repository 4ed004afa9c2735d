"""`--set key.path=value` overrides applied to a loaded mapping before validation."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tigris.errors import SpecError


def _parse_value(text: str) -> Any:
    """Values are YAML scalars: '4 TB/s' stays a string, '8' becomes 8, 'true' True."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of `data` with `dotted` (a.b.c or a.list[0].c) set to `value`."""
    result = copy.deepcopy(data)
    keys = dotted.replace("]", "").replace("[", ".").split(".")
    node: Any = result
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        path = ".".join(keys[: position + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise SpecError(f"no list item {key!r}", key_path=path)
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise SpecError("cannot set a field inside a plain value", key_path=path)
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
    return result


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply 'key.path=value' strings in order."""
    for assignment in assignments:
        if "=" not in assignment:
            raise SpecError(
                f"override {assignment!r} is not of the form key.path=value", key_path="--set"
            )
        dotted, text = assignment.split("=", 1)
        data = apply_override(data, dotted.strip(), _parse_value(text.strip()))
    return data
