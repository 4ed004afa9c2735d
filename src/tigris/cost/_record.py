"""Frozen result records built without the dataclass __init__.

A frozen dataclass's __init__ sets each field through object.__setattr__ (about 0.3 us a
field); the cost model builds several 9-17 field results per design of a sweep. `record`
fills the instance's __dict__ at once: the same object (fields, equality, hash, repr,
pickling), given every field in order. No __post_init__ runs, so a caller checks what it
would check (tests/cost/test_records.py holds each record to its class's __init__).
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def record(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen dataclass `cls` whose fields are `values` (all of them)."""
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance
