"""Weight double buffering: the PE schedule with preloading, stepped MAC by MAC and load by
load, is feasible, reaches the fold table's cycles, computes the same bits, and the
simulator agrees with the tile engine on decode-shaped GEMMs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.engines.base import get_engine
from tigris.engines.systolic import (
    RULES,
    SystolicConfig,
    compute_cycles,
    line_trace,
    mac_events,
    simulate,
    stationary_loads,
)
from tigris.engines.tile import systolic_compute_cycles
from tigris.engines.tile.attention import time_gemm
from tigris.hardware import load_chip
from tigris.workload.ops import Gemm

SHAPES = dict(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    k=st.integers(1, 12),
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    dataflow=st.sampled_from(["os", "ws", "is"]),
)


def earliest_stream_starts(num_folds: int, time_steps: int, rows: int) -> list[int]:
    """The earliest cycle each fold can start streaming under the hardware's constraints
    alone (no formula): a preload takes R cycles on the one weight path, a fold streams once
    its weights are in, a PE ends fold f-1 before fold f's wave reaches it, and a register
    is refilled only after the fold two back (same register) has passed every PE."""
    preload, stream = [0] * num_folds, [0] * num_folds
    for f in range(num_folds):
        after_path = preload[f - 1] + rows if f >= 1 else 0
        register_free = stream[f - 2] + time_steps if f >= 2 else 0
        preload[f] = max(after_path, register_free)
        after_wave = stream[f - 1] + time_steps if f >= 1 else 0
        stream[f] = max(after_wave, preload[f] + rows)
    return stream


@settings(max_examples=40, deadline=None)
@given(**SHAPES)
def test_preloaded_schedule_is_the_earliest_feasible_and_the_closed_form(
    m, n, k, rows, cols, dataflow
):
    config = SystolicConfig(rows, cols, dataflow, weight_buffers=2)
    events = mac_events(m, n, k, config)
    # every product once, no PE doing two MACs in a cycle
    keys = np.stack([events["m"], events["n"], events["k"]], axis=1)
    assert len(np.unique(keys, axis=0)) == len(keys) == m * n * k
    slots = np.stack([events["cycle"], events["pe_row"], events["pe_col"]], axis=1)
    assert len(np.unique(slots, axis=0)) == len(slots)
    # the last MAC ends the run the simulator and the closed form report (a ragged last
    # fold keeps the whole array's skew, as SCALE-Sim pads: its last MAC may come earlier)
    total = compute_cycles(m, n, k, rows, cols, dataflow, weight_buffers=2)
    assert total == simulate(m, n, k, config).total_cycles
    rule = RULES[config.dataflow]
    sizes = {"M": m, "N": n, "K": k}
    full = sizes[rule.rows] % rows == 0 and sizes[rule.cols] % cols == 0
    last = int(events["cycle"].max())
    assert last == total if full else last <= total
    if rule.preload_rows:  # the fold table's stream starts are the earliest feasible ones
        time_steps = sizes[rule.time]
        folds = int(events["fold"].max()) + 1
        first = [int(events["cycle"][events["fold"] == f].min()) for f in range(folds)]
        assert first == earliest_stream_starts(folds, time_steps, rows)
    else:  # nothing to preload: the same run as one buffer
        assert total == compute_cycles(m, n, k, rows, cols, dataflow)


@settings(max_examples=30, deadline=None)
@given(**SHAPES, buffers=st.sampled_from([1, 2]))
def test_no_pe_reads_a_register_being_loaded_or_before_its_weights(
    m, n, k, rows, cols, dataflow, buffers
):
    config = SystolicConfig(rows, cols, dataflow, weight_buffers=buffers)
    events, loads = mac_events(m, n, k, config), stationary_loads(m, n, k, config)
    for f, b, i, j, first, last in zip(
        *(loads[key] for key in ("fold", "buffer", "pe_row", "pe_col")),
        loads["first_write"],
        loads["last_write"],
        strict=True,
    ):
        pe = (events["pe_row"] == i) & (events["pe_col"] == j) & (events["buffer"] == b)
        cycles, folds = events["cycle"][pe], events["fold"][pe]
        # no MAC reads register b while it is overwritten ...
        assert not ((cycles >= first) & (cycles <= last)).any()
        # ... fold f's MACs come after its weights are in, earlier folds' before the load
        assert (cycles[folds == f] > last).all()
        assert (cycles[folds < f] < first).all()


@pytest.mark.parametrize("dtype", ["int8", "bf16"])
@pytest.mark.parametrize("dataflow", ["ws", "is"])
def test_preloading_computes_the_same_bits(dtype, dataflow):
    rng = np.random.default_rng(7)
    for _ in range(4):
        m, n, k = (int(x) for x in rng.integers(1, 40, size=3))
        seed, outputs = int(rng.integers(1 << 30)), []
        for buffers in (1, 2):
            config = SystolicConfig(8, 6, dataflow, dtype=dtype, weight_buffers=buffers)
            result = simulate(m, n, k, config, verify=True, seed=seed)
            assert result.verified
            outputs.append(result.output)
        # preloading changes when a PE adds, never the order: the same bits
        assert np.array_equal(outputs[0], outputs[1])
    a = rng.integers(-128, 128, size=(33, 70), dtype=np.int8)
    b = rng.integers(-128, 128, size=(70, 21), dtype=np.int8)
    config = SystolicConfig(16, 8, dataflow, dtype="int8", weight_buffers=2)
    out = simulate(33, 21, 70, config, a=a, b=b).output
    assert np.array_equal(out, a.astype(np.int64) @ b.astype(np.int64))


def test_line_trace_shows_next_weights_loading_under_the_current_fold():
    config = SystolicConfig(2, 2, "ws", weight_buffers=2)
    lines = "\n".join(line_trace(6, 2, 4, config))
    # fold 1's weights shift in (ld) while fold 0 still multiplies in the same cycle
    assert "fold 1" in lines
    block = lines.split("cycle 4 (")[1].split("cycle 5")[0]
    assert "ld" in block and "," in block


# Llama-2-7B decode projections (K x N), scaled down 8x in both dimensions (same shape
# class: K, N >> R = C, M the batch): QKV 4096 x 12288, O 4096 x 4096, up/gate 4096 x 11008
# (fused: x 22016), down 11008 x 4096.
DECODE_WEIGHTS = [(512, 1536), (512, 512), (512, 2752), (1376, 512)]


@pytest.mark.parametrize("chip_id", ["tpu-v5e", "tpu-v5p", "tigris-1"])
def test_simulator_agrees_with_tile_engine_on_decode_gemms(chip_id):
    chip = load_chip(chip_id)
    worst = 0.0
    for m in (1, 8, 32, 64, 128, 256):
        for k, n in DECODE_WEIGHTS:
            op = Gemm("g", m=m, n=n, k=k, dtype="bf16")
            simulated = get_engine("systolic").time(op, chip).details["cycles"]
            tile = time_gemm(op, chip).details["cycles"] + 1  # last busy cycle's index
            worst = max(worst, abs(simulated - tile) / tile)
    assert worst <= 0.05


def test_tile_engine_reads_the_preloading_fold_table():
    # one 128 x 128 array, a 4096 x 4096 weight, batch 32: 1024 folds of max(32, 128)
    assert systolic_compute_cycles(32, 4096, 4096, 128, 128, "ws", 2) == (
        (32 + 3 * 128 - 2) + 1023 * 128 - 1
    )
    assert systolic_compute_cycles(32, 4096, 4096, 128, 128, "ws") == 1024 * (32 + 382) - 1


def test_tpu_decode_gemms_are_bound_by_hbm_not_by_fill_and_drain():
    chip = load_chip("tpu-v5p")
    for k, n in [(4096, 12288), (4096, 4096), (4096, 22016), (11008, 4096)]:
        part = time_gemm(Gemm("g", m=32, n=n, k=k, dtype="bf16"), chip)
        assert part.details["matrix_s"] < part.memory_s


def test_chip_with_three_weight_buffers_is_a_one_line_error(tmp_path):
    text = load_chip_text("tpu-v5e").replace("weight_buffers: 2", "weight_buffers: 3")
    path = tmp_path / "chip.yaml"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "tigris", "gemm", "64", "64", "64", "--chip", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "weight_buffers" in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 2


def load_chip_text(chip_id: str) -> str:
    from tigris.hardware.presets import chip_path

    return chip_path(chip_id).read_text()
