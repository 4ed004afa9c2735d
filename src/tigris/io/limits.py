"""Resource limits a command checks before long or large work: parse `--max-memory 8GiB`
or `--max-time 1h`, and refuse an estimate above its limit in one line that states the
estimate and the option that raises the limit.

The estimates come from the domain (what a run will allocate and how long it takes, known
from its sizes); this module only compares and words them. Defaults are sized for a
laptop: a run refused here would have swapped, been killed, or kept its user waiting.
"""

from __future__ import annotations

import math

from tigris.errors import SpecError
from tigris.units import UnitError, parse_quantity

DEFAULT_MAX_MEMORY = "2 GiB"
DEFAULT_MAX_TIME = "10 min"

_BINARY = (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_TIMES = (("days", 86400.0), ("h", 3600.0), ("min", 60.0))


def parse_limit(text: str, dimension: str, option: str) -> float:
    """'8GiB' (dimension 'capacity') or '1 h' ('time') -> bytes or seconds; SpecError
    naming `option` unless it is a positive quantity of that dimension."""
    try:
        value = parse_quantity(text, dimension)
    except UnitError as error:
        raise SpecError(str(error), key_path=option) from None
    if not value > 0 or math.isinf(value):
        raise SpecError(f"must be a positive {dimension}, got {repr(text)[:80]}", key_path=option)
    return value


def format_bytes(num_bytes: float) -> str:
    """Bytes in binary units, three significant digits: '3.2 TiB', '512 MiB'."""
    for unit, size in _BINARY:
        if num_bytes >= size:
            return f"{num_bytes / size:.3g} {unit}"
    return f"{num_bytes:.0f} B"


def format_seconds(seconds: float) -> str:
    """'2.5 h', '40 min', '12 s'."""
    for unit, size in _TIMES:
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


def _suggest(value: float, dimension: str) -> str:
    """A limit just above `value`, written as the option takes it ('4GiB', '2h')."""
    if dimension == "capacity":
        for unit, size in _BINARY:
            if value >= size:
                return f"{math.ceil(value / size * 1.1)}{unit}"
        return "1MiB"
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if value >= size:
            return f"{math.ceil(value / size * 1.1)}{unit}"
    return "1min"


def check_memory(estimate_bytes: float, limit_bytes: float, what: str, option: str) -> None:
    """SpecError when `what` needs more than `limit_bytes` of memory."""
    if estimate_bytes > limit_bytes:
        raise SpecError(
            f"{what} needs about {format_bytes(estimate_bytes)} of memory, more than the "
            f"{format_bytes(limit_bytes)} allowed; {option} "
            f"{_suggest(estimate_bytes, 'capacity')} raises the limit",
            key_path=option,
        )


def check_time(estimate_s: float, limit_s: float, what: str, option: str) -> None:
    """SpecError when `what` would take longer than `limit_s`."""
    if estimate_s > limit_s:
        raise SpecError(
            f"{what} would take about {format_seconds(estimate_s)}, more than the "
            f"{format_seconds(limit_s)} allowed; {option} {_suggest(estimate_s, 'time')} "
            "raises the limit",
            key_path=option,
        )
