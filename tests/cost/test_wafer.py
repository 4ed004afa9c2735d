"""Dies per wafer and yield against closed forms and the worked example in the data notes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.cost import die_yield, dies_per_wafer


def test_dies_per_wafer_worked_example():
    # 814 mm2 on 300 mm, no scribe or edge: 70686/814 - 942.48/sqrt(1628) = 63.5
    assert dies_per_wafer(814.0) == pytest.approx(63.5, abs=0.05)


def test_dies_per_wafer_with_scribe_and_edge_matches_closed_form():
    site = (10.0 + 0.2) ** 2
    d = 300.0 - 2 * 5.0
    expected = math.pi * (d / 2) ** 2 / site - math.pi * d / math.sqrt(2 * site)
    assert dies_per_wafer(100.0, 300.0, 5.0, 0.2) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("poisson", 0.443), ("murphy", 0.468), ("negative_binomial", 0.487), ("seeds", 1 / 1.814)],
)
def test_yield_models_worked_example(model, expected):
    # 814 mm2 at D0 = 0.1 /cm2 (cost-area-power.yaml worked_example_reticle_die), alpha 3
    assert die_yield(814.0, 0.1, model, 3.0) == pytest.approx(expected, abs=1e-3)


def test_negative_binomial_tends_to_poisson():
    assert die_yield(500.0, 0.1, "negative_binomial", 1e6) == pytest.approx(
        die_yield(500.0, 0.1, "poisson"), rel=1e-4
    )


def test_unknown_yield_model_is_an_error():
    with pytest.raises(ValueError):
        die_yield(100.0, 0.1, "magic")


areas = st.floats(min_value=10.0, max_value=900.0)


@given(areas, areas, st.sampled_from(["poisson", "murphy", "seeds", "negative_binomial"]))
def test_larger_die_lower_yield_and_fewer_dies(a, b, model):
    small, large = sorted((a, b))
    assert die_yield(large, 0.1, model) <= die_yield(small, 0.1, model)
    assert dies_per_wafer(large, 300, 5, 0.2) <= dies_per_wafer(small, 300, 5, 0.2)
