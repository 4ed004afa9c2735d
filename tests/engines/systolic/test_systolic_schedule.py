"""The PE schedule, stepped MAC by MAC, reaches SCALE-Sim's closed form on its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.engines.systolic import (
    SystolicConfig,
    chrome_trace,
    compute_cycles,
    line_trace,
    mac_events,
    simulate,
)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    k=st.integers(1, 12),
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    dataflow=st.sampled_from(["os", "ws", "is"]),
)
def test_every_mac_once_and_last_mac_on_closed_form_cycle(m, n, k, rows, cols, dataflow):
    config = SystolicConfig(rows, cols, dataflow)
    events = mac_events(m, n, k, config)
    # Every product of the GEMM exactly once.
    keys = np.stack([events["m"], events["n"], events["k"]], axis=1)
    assert len(np.unique(keys, axis=0)) == len(keys) == m * n * k
    # No PE does two MACs in one cycle.
    slots = np.stack([events["cycle"], events["pe_row"], events["pe_col"]], axis=1)
    assert len(np.unique(slots, axis=0)) == len(slots)
    # Each fold's MACs fit in its slot of the closed form's fold length, and a fold that
    # fills the array uses the slot to its last cycle (ragged folds keep the full skew).
    total = compute_cycles(m, n, k, rows, cols, dataflow)
    result = simulate(m, n, k, config)
    fold_len = (total + 1) // result.num_folds
    assert fold_len * result.num_folds == total + 1 == result.compute_cycles + 1
    assert np.all(events["cycle"] // fold_len == events["fold"])
    full = {"os": (m, n), "ws": (k, n), "is": (k, m)}[dataflow]
    if full[0] % rows == 0 and full[1] % cols == 0:
        assert events["cycle"].max() == total


def test_mac_events_recompute_c():
    """Summing the traced MACs gives A x B: the trace moves the right operands."""
    config = SystolicConfig(3, 2, "is")
    rng = np.random.default_rng(0)
    a = rng.integers(-5, 5, size=(5, 4))
    b = rng.integers(-5, 5, size=(4, 7))
    events = mac_events(5, 7, 4, config)
    c = np.zeros((5, 7), dtype=np.int64)
    np.add.at(
        c, (events["m"], events["n"]), a[events["m"], events["k"]] * b[events["k"], events["n"]]
    )
    np.testing.assert_array_equal(c, a @ b)


def test_closed_form_examples():
    # DESIGN.md section 7 by hand: OS 20x13x30 on 8x8 is 3*2 folds of 30+8+8-2 = 44 cycles.
    assert compute_cycles(20, 13, 30, 8, 8, "os") == 6 * 44 - 1
    assert compute_cycles(20, 13, 30, 8, 8, "ws") == 4 * 2 * (20 + 16 + 8 - 2) - 1
    assert compute_cycles(20, 13, 30, 8, 8, "is") == 4 * 3 * (13 + 16 + 8 - 2) - 1


def test_line_trace_shows_skew():
    lines = line_trace(2, 2, 3, SystolicConfig(2, 2, "os"))
    # Cycle 0: only PE (0,0) works, on m=0, n=0, k=0; cycle 1 reaches its neighbours.
    start = lines.index("cycle 0 (fold 0)")
    assert lines[start + 1].split() == ["0,0,0", "."]
    assert lines[start + 2].split() == [".", "."]
    cycle1 = lines.index("cycle 1 (fold 0)")
    assert lines[cycle1 + 1].split() == ["0,0,1", "0,1,0"]
    assert (
        sum(line.startswith("cycle ") for line in lines) == compute_cycles(2, 2, 3, 2, 2, "os") + 1
    )


def test_line_trace_refuses_big_arrays():
    from tigris.errors import SpecError

    with pytest.raises(SpecError):
        line_trace(4, 4, 4, SystolicConfig(64, 64))


def test_chrome_trace_has_every_fold_and_the_stalls():
    config = SystolicConfig(4, 4, "ws", dram_bandwidth_bytes_per_cycle=2.0)
    result = simulate(10, 9, 11, config)
    trace = json.loads(json.dumps(chrome_trace(result)))
    folds = [e for e in trace["traceEvents"] if e.get("tid") == 1 and e["name"].startswith("fold")]
    stalls = [e for e in trace["traceEvents"] if e["name"] == "stall"]
    assert len(folds) == result.num_folds
    assert sum(e["dur"] for e in stalls) == result.stall_cycles > 0
    assert max(e["ts"] + e["dur"] for e in folds) == result.total_cycles + 1
