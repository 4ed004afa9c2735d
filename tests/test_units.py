"""parse_quantity: strict prefixes, dimension checks, ambiguous spellings rejected."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.units import UnitError, format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("80 GB", "capacity", 80e9),
        ("80 GiB", "capacity", 80 * 2**30),
        ("228 KiB", "capacity", 228 * 1024),
        ("50 MB", "capacity", 50e6),
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("400 Gb/s", "bandwidth", 50e9),  # bits: divide by 8
        ("900 GB/s", "bandwidth", 900e9),
        ("989.4 TFLOP/s", "flop_rate", 989.4e12),
        ("1978.9 TOP/s", "flop_rate", 1978.9e12),
        ("1.83 GHz", "frequency", 1.83e9),
        ("1830 MHz", "frequency", 1.83e9),
        ("700 W", "power", 700.0),
        ("10.2 kW", "power", 10200.0),
        ("814 mm2", "area", 814.0),
        ("4 nm", "length", 4e-9),
        ("3 us", "time", 3e-6),
        ("0.5 pJ", "energy", 0.5e-12),
        ("1e3 GB", "capacity", 1e12),
    ],
)
def test_parses_to_si(text: str, dimension: str, expected: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "dimension", "fragment"),
    [
        ("3.35 TBps", "bandwidth", "ambiguous"),
        ("400 Gbps", "bandwidth", "ambiguous"),
        ("989 TFLOPS", "flop_rate", "ambiguous"),
        ("64 KB", "capacity", "KiB"),
        ("80", "capacity", "no unit"),
        ("80 GB", "bandwidth", "is a capacity"),
        ("3.35 TB/s", "capacity", "is a bandwidth"),
        ("fast", "bandwidth", "cannot read"),
        ("12 parsecs", "length", "unknown unit"),
    ],
)
def test_rejects_with_a_hint(text: str, dimension: str, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_quantity(text, dimension)


def test_bare_number_is_an_error() -> None:
    with pytest.raises(UnitError, match="bare number"):
        parse_quantity(3.35e12, "bandwidth")


@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False))
def test_format_then_parse_round_trips(value: float) -> None:
    for dimension, scale in (("bandwidth", 1e9), ("capacity", 1e6), ("flop_rate", 1e12)):
        text = format_quantity(value * scale, dimension, digits=12)
        assert parse_quantity(text, dimension) == pytest.approx(value * scale, rel=1e-9)
