"""SI units: constants, strict parsing of "3.35 TB/s"-style quantities, and formatting.

Inside Tigris every quantity is a float in SI base units (bytes, bytes/s, flop/s, Hz,
W, mm2 for area, m for length, s, J). In YAML the unit is written in the value and parsed
here. Prefixes are strict (DESIGN.md section 3): GB = 1e9 B, GiB = 2**30 B, "b" is a bit
and "B" a byte. Spellings that could mean two things ("KB", "TBps", "TFLOPS") are rejected
with a hint rather than guessed.
"""

from __future__ import annotations

import math
import re

from tigris.errors import given, shorten

# Decimal and binary prefixes.
KILO, MEGA, GIGA, TERA, PETA, EXA = 1e3, 1e6, 1e9, 1e12, 1e15, 1e18
KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40
KB, MB, GB, TB, PB = KILO, MEGA, GIGA, TERA, PETA
TFLOP, PFLOP = TERA, PETA

DIMENSIONS = (
    "capacity",  # bytes
    "bandwidth",  # bytes per second
    "flop_rate",  # flop (or integer op) per second
    "frequency",  # Hz
    "power",  # W
    "area",  # mm2
    "length",  # m
    "time",  # s
    "energy",  # J
)

_EXAMPLE = {
    "capacity": "80 GB",
    "bandwidth": "3.35 TB/s",
    "flop_rate": "989.4 TFLOP/s",
    "frequency": "1.83 GHz",
    "power": "700 W",
    "area": "814 mm2",
    "length": "4 nm",
    "time": "2 us",
    "energy": "0.5 pJ",
}

_DECIMAL = {"": 1.0, "k": KILO, "M": MEGA, "G": GIGA, "T": TERA, "P": PETA, "E": EXA}
_BINARY = {"Ki": KiB, "Mi": MiB, "Gi": GiB, "Ti": TiB, "Pi": 2**50}
_SMALL = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


def _build_table() -> dict[str, tuple[str, float]]:
    """Every accepted unit spelling -> (dimension, factor to SI)."""
    table: dict[str, tuple[str, float]] = {}
    for prefix, factor in {**_DECIMAL, **_BINARY}.items():
        table[f"{prefix}B"] = ("capacity", factor)
        table[f"{prefix}B/s"] = ("bandwidth", factor)
        if prefix in _DECIMAL:  # bits are always decimal in networking
            table[f"{prefix}b"] = ("capacity", factor / 8)
            table[f"{prefix}b/s"] = ("bandwidth", factor / 8)
            table[f"{prefix}bit/s"] = ("bandwidth", factor / 8)
    for prefix, factor in _DECIMAL.items():
        table[f"{prefix}FLOP/s"] = ("flop_rate", factor)
        table[f"{prefix}OP/s"] = ("flop_rate", factor)
        table[f"{prefix}Hz"] = ("frequency", factor)
        table[f"{prefix}W"] = ("power", factor)
    for prefix, factor in _SMALL.items():
        table[f"{prefix}s"] = ("time", factor)
        table[f"{prefix}J"] = ("energy", factor)
    table["mW"] = ("power", 1e-3)
    table.update(
        {
            "mm2": ("area", 1.0),
            "mm^2": ("area", 1.0),
            "cm2": ("area", 100.0),
            "um2": ("area", 1e-6),
            "nm": ("length", 1e-9),
            "um": ("length", 1e-6),
            "mm": ("length", 1e-3),
            "min": ("time", 60.0),
            "h": ("time", 3600.0),
        }
    )
    return table


_UNITS = _build_table()

# Spellings that are common but ambiguous, with what to write instead.
_AMBIGUOUS_HINTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^([kMGTP]i?)[Bb]ps$"),
        "write '{0}B/s' for bytes or '{0}b/s' for bits per second",
    ),
    (re.compile(r"^([kMGTP]?)FLOPS$"), "write '{0}FLOP/s' (FLOPS could be a count or a rate)"),
    (re.compile(r"^([kMGTP]?)OPS$"), "write '{0}OP/s'"),
    (re.compile(r"^KB$"), "write 'kB' (1e3 bytes) or 'KiB' (1024 bytes)"),
    (re.compile(r"^Kb$"), "write 'kb' (1e3 bits) or 'KiB' for binary bytes"),
    (re.compile(r"^K(B|b)/s$"), "write 'kB/s' (1e3) or 'KiB/s' (1024)"),
    (re.compile(r"^([kMGTP]?)[Ff]lops$"), "write '{0}FLOP/s'"),
]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([^\s\d].*?)?\s*$")


class UnitError(ValueError):
    """A quantity string that cannot be read; the message says what to write instead."""


def parse_quantity(text: object, dimension: str) -> float:
    """Parse '3.35 TB/s' into SI (3.35e12 bytes per second), checking its dimension.

    A bare number is an error: the unit must be written. Ambiguous spellings are rejected
    with a hint. Raises UnitError with a one-line message.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    example = _EXAMPLE[dimension]
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnitError(f"expected a {dimension} such as '{example}', got {given(text)}")
    if isinstance(text, (int, float)):
        raise UnitError(
            f"a bare number ({given(text)}) has no unit; write a {dimension} such as '{example}'"
        )
    quoted = shorten(text)
    match = _QUANTITY.match(text) if len(text) <= 200 else None
    if not match:
        raise UnitError(f"cannot read {given(text)} as a {dimension}; write it like '{example}'")
    value = float(match.group(1))
    unit = (match.group(2) or "").strip()
    if not unit:
        raise UnitError(f"'{quoted}' has no unit; write a {dimension} such as '{example}'")
    if unit not in _UNITS:
        for pattern, hint in _AMBIGUOUS_HINTS:
            found = pattern.match(unit)
            if found:
                groups = found.groups() or ("",)
                raise UnitError(f"'{quoted}' is ambiguous: {hint.format(*groups)}")
        raise UnitError(
            f"unknown unit {given(unit)} in '{quoted}'; write a {dimension} such as '{example}'"
        )
    unit_dimension, factor = _UNITS[unit]
    if unit_dimension != dimension:
        raise UnitError(
            f"'{quoted}' is a {unit_dimension}, but a {dimension} is expected (e.g. '{example}')"
        )
    if not math.isfinite(value * factor):
        raise UnitError(f"'{quoted}' is not a finite number")
    return value * factor


_FORMAT = {
    "capacity": ("B", 1000.0, ["", "k", "M", "G", "T", "P"]),
    "bandwidth": ("B/s", 1000.0, ["", "k", "M", "G", "T", "P"]),
    "flop_rate": ("FLOP/s", 1000.0, ["", "k", "M", "G", "T", "P", "E"]),
    "frequency": ("Hz", 1000.0, ["", "k", "M", "G"]),
    "power": ("W", 1000.0, ["", "k", "M"]),
}


def format_quantity(value: float, dimension: str, digits: int = 4) -> str:
    """Format an SI value with a decimal prefix: 3.35e12, 'bandwidth' -> '3.35 TB/s'."""
    if dimension == "time":
        for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(value) >= scale or unit == "ns":
                return f"{value / scale:.{digits}g} {unit}"
    if dimension == "area":
        return f"{value:.{digits}g} mm2"
    if dimension == "length":
        return f"{value * 1e9:.{digits}g} nm"
    if dimension == "energy":
        for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ")):
            if abs(value) >= scale or unit == "pJ":
                return f"{value / scale:.{digits}g} {unit}"
    unit, base, prefixes = _FORMAT[dimension]
    index = 0
    scaled = value
    while abs(scaled) >= base and index < len(prefixes) - 1:
        scaled /= base
        index += 1
    return f"{scaled:.{digits}g} {prefixes[index]}{unit}"
