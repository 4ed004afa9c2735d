"""Issue item 6: the tile engine's systolic compute cycles equal this simulator's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.engines.systolic import SystolicConfig, compute_cycles, simulate
from tigris.engines.tile import systolic_compute_cycles


@settings(max_examples=300, deadline=None)
@given(
    m=st.integers(1, 2000),
    n=st.integers(1, 2000),
    k=st.integers(1, 2000),
    rows=st.integers(2, 256),
    cols=st.integers(2, 256),
    dataflow=st.sampled_from(["os", "ws", "is"]),
)
def test_tile_engine_equals_simulated_compute_cycles(m, n, k, rows, cols, dataflow):
    simulated = simulate(m, n, k, SystolicConfig(rows, cols, dataflow)).compute_cycles
    assert systolic_compute_cycles(m, n, k, rows, cols, dataflow) == simulated
    assert compute_cycles(m, n, k, rows, cols, dataflow) == simulated
