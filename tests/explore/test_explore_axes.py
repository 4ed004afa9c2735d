"""Axis forms: lists, linear and log ranges, units to SI, and empty or malformed axes."""

from __future__ import annotations

import pytest

from tigris.errors import SpecError
from tigris.explore.axes import parse_axis


def values(spec: object) -> tuple:
    return parse_axis("p", spec, where="axes.p").values


def test_list_keeps_words_and_reads_quantities() -> None:
    assert values([64, 128]) == (64, 128)
    assert values(["ws", "os"]) == ("ws", "os")
    assert values(["4 TB/s", "8 TB/s"]) == (4e12, 8e12)


def test_linear_ranges() -> None:
    assert values({"range": [2, 8], "step": 2}) == (2, 4, 6, 8)
    assert values({"range": [2, 8], "num": 4}) == (2, 4, 6, 8)
    clocks = values({"range": ["1.25 GHz", "2 GHz"], "step": "0.25 GHz"})
    assert clocks == pytest.approx((1.25e9, 1.5e9, 1.75e9, 2.0e9))


def test_log_ranges() -> None:
    assert values({"log_range": [64, 512], "factor": 2}) == (64, 128, 256, 512)
    assert all(isinstance(v, int) for v in values({"log_range": [64, 512], "factor": 2}))
    bandwidths = values({"log_range": ["2 TB/s", "8 TB/s"], "num": 3})
    assert bandwidths == pytest.approx((2e12, 4e12, 8e12))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ([], "empty axis"),
        ({"range": [8, 2], "step": 2}, "empty range"),
        ({"log_range": [8, 2], "num": 3}, "empty range"),
        ({"range": [2, 8]}, "exactly one of step or num"),
        ({"range": [2, 8], "step": 0}, "step must be positive"),
        ({"log_range": [0, 8], "num": 3}, "positive ends"),
        ({"log_range": [1, 8], "factor": 1}, "factor must exceed 1"),
        ({"range": [1, 2], "num": 2, "stride": 1}, "unknown key"),
        ([1, 1], "repeat"),
        (["4 parsecs"], "cannot read"),
        ("128", "a list of values or a range"),
    ],
)
def test_bad_axes(spec: object, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_axis("p", spec, where="axes.p")
    assert fragment in str(caught.value)
    assert "axes.p" in str(caught.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"range": [1, 100_000_000], "num": 100_000_000},
        {"log_range": [1, 10**9], "num": 10**9},
        {"log_range": [1, 1e300], "factor": 1.000001},
        {"range": [0, 1], "step": 1e-9},
    ],
)
def test_axis_value_counts_are_bounded_before_listing(spec):
    """An axis of 1e8 values is refused at once (it was listed first: minutes and GBs)."""
    with pytest.raises(SpecError, match="at most 100000"):
        parse_axis("matrix.num_cores", spec, where="axes.matrix.num_cores")
