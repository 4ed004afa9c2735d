"""`--set key.path=value` overrides applied to a loaded mapping before validation."""

from __future__ import annotations

import copy
import re
from typing import Any

from tigris.errors import SpecError, shorten
from tigris.io.loader import parse_value


def _parse_value(text: str, dotted: str) -> Any:
    """Values are YAML scalars: '4 TB/s' stays a string, '8' becomes 8, 'true' True (read
    strictly: NaN or an alias bomb is an error naming the key)."""
    try:
        return parse_value(text)
    except SpecError as error:
        raise SpecError(error.message, key_path=dotted or "--set", hint=error.hint) from None


_INDEX = re.compile(r"\[[^\[\]]*\]")
MAX_PATH_PARTS = 64  # far deeper than any spec: a longer path is a slip, and costs time


def _split_path(dotted: str) -> list[str]:
    """'a.list[0].c' -> ['a', 'list', '0', 'c']; SpecError for unbalanced brackets or a
    path deeper than any spec."""
    outside = _INDEX.sub("", dotted)
    if "[" in outside or "]" in outside:
        raise SpecError(
            "unbalanced brackets in the key path",
            key_path=shorten(dotted),
            hint="index a list as key.list[0].field",
        )
    keys = dotted.replace("]", "").replace("[", ".").split(".")
    if len(keys) > MAX_PATH_PARTS:
        raise SpecError(
            f"a key path of {len(keys):,} parts is deeper than any spec (at most {MAX_PATH_PARTS})",
            key_path=shorten(dotted),
        )
    return keys


def _prefix(keys: list[str], position: int) -> str:
    """The path up to `keys[position]`, shortened for a message (built only on error)."""
    return shorten(".".join(keys[: position + 1]))


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of `data` with `dotted` (a.b.c or a.list[0].c) set to `value`."""
    result = copy.deepcopy(data)
    keys = _split_path(dotted)
    node: Any = result
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(node, list):
            # ASCII digits only: '²'.isdigit() is true but int('²') fails
            if not (key.isascii() and key.isdigit()) or int(key) >= len(node):
                raise SpecError(
                    f"no list item {shorten(repr(key))}", key_path=_prefix(keys, position)
                )
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise SpecError(
                "cannot set a field inside a plain value", key_path=_prefix(keys, position)
            )
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
                f"override {shorten(repr(assignment))} is not of the form key.path=value",
                key_path="--set",
            )
        dotted, text = assignment.split("=", 1)
        dotted = dotted.strip()
        if not dotted:
            raise SpecError(f"override {shorten(repr(assignment))} names no key", key_path="--set")
        if not text.strip():  # 'key=' is a slip (a shell variable that was empty), not a null
            raise SpecError(
                "no value after '='", key_path=shorten(dotted), hint="write key.path=null to unset"
            )
        data = apply_override(data, dotted, _parse_value(text.strip(), dotted))
    return data
