"""Frozen result records built without the dataclass __init__.

A frozen dataclass's __init__ sets each field through object.__setattr__ (about 0.3 us a
field); the cost model builds several 9-17 field results per design of a sweep. `record`
makes the caller's dict of values the instance's __dict__ (no copy: half the time of
filling a fresh one): the same object (fields, equality, hash, repr, pickling), given
every field in order, in a dict that the caller does not use again. No __post_init__
runs, so a caller checks what it would check (tests/cost/test_records.py holds each
record to its class's __init__).
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def record(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen dataclass `cls` whose fields are `values` (all of them);
    `values` becomes its __dict__."""
    instance = _new(cls)
    _setattr(instance, "__dict__", values)  # object's, past the frozen class's __setattr__
    return instance


_new = object.__new__
_setattr = object.__setattr__
