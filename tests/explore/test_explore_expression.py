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


_OPS = ["+", "-", "*", "/", "//", "%", "**"]


def _trees(depth: int):
    """Random expression trees over names a, b, c, constants and the functions."""
    from hypothesis import strategies as st

    leaf = st.one_of(
        st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: ("num", v)),
        st.sampled_from(["a", "b", "c"]).map(lambda n: ("name", n)),
    )
    if depth == 0:
        return leaf
    inner = _trees(depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda x: ("neg", x)),
        st.tuples(st.sampled_from(_OPS), inner, inner).map(lambda t: ("bin", *t)),
        st.tuples(st.sampled_from(["min", "max", "abs", "sqrt", "floor"]), inner).map(
            lambda t: ("call", t[0], (t[1],) if t[0] not in ("min", "max") else (t[1], t[1]))
        ),
    )


def _outcome(function, *args):
    try:
        value = function(*args)
    except Exception as error:  # the same exception type is the same outcome
        return type(error)
    return ("nan",) if isinstance(value, float) and math.isnan(value) else value


def test_compiled_expressions_equal_the_tree_walk() -> None:
    """The compiled form (`Expression.evaluate`) gives exactly what walking the tree gives,
    value or exception, on random trees and environments."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tigris.explore.expression import Expression, _evaluate

    values = st.floats(-50, 50, allow_nan=False)

    @settings(max_examples=400, deadline=None)
    @given(_trees(4), values, values, values)
    def check(tree, a, b, c):
        env = {"a": a, "b": b, "c": c}
        expression = Expression("generated", tree, frozenset())
        assert _outcome(expression.evaluate, env) == _outcome(_evaluate, tree, env)

    check()
