"""The derived-parameter arithmetic: precedence, names, quantities, and nothing executed."""

from __future__ import annotations

import math

import pytest

from tigris.errors import SpecError
from tigris.explore.expression import parse_expression


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("7 // 2 + 7 % 2", 4.0),
        ("10 / 4", 2.5),
        ("max(1, 5, 3) - min(4, 2)", 3.0),
        ("sqrt(16) + log2(8) + ceil(1.2) + floor(1.8)", 10.0),
        ("'36 GB' * 2", 72e9),
        ("'4 TB/s' / '2 GHz'", 2000.0),
        ("1.5e3 + .5", 1500.5),
    ],
)
def test_values(text: str, expected: float) -> None:
    assert math.isclose(parse_expression(text).evaluate({}), expected)


def test_dotted_names_read_the_environment() -> None:
    expression = parse_expression("matrix.rows * matrix.cols + memory.sram.1.capacity")
    assert expression.names == {"matrix.rows", "matrix.cols", "memory.sram.1.capacity"}
    assert (
        expression.evaluate({"matrix.rows": 128, "matrix.cols": 64, "memory.sram.1.capacity": 8})
        == 8200
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "cannot read"),
        ("__import__('os')", "unknown function"),
        ("open('x')", "unknown function"),
        ("1 +", "unexpected end"),
        ("(1 + 2", "unexpected end"),
        ("1 2", "unexpected"),
        ("", "empty"),
        ("x; y", "cannot read"),
        ("'4 parsecs'", "cannot read"),
        ("lambda: 1", "cannot read"),
    ],
)
def test_rejected(text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_expression(text, where="derived.x")
    assert fragment in str(caught.value)
    assert "derived.x" in str(caught.value)


def test_undefined_value_raises_arithmetic_error() -> None:
    with pytest.raises(ZeroDivisionError):
        parse_expression("1 / (a - a)").evaluate({"a": 3.0})


def test_attribute_like_names_are_only_keys() -> None:
    """A dunder in a name is part of a dictionary key, never an attribute access."""
    expression = parse_expression("a.__class__ + 1")
    assert expression.names == {"a.__class__"}
    assert expression.evaluate({"a.__class__": 1.0}) == 2.0
    with pytest.raises(KeyError):
        expression.evaluate({"a": 1.0})
