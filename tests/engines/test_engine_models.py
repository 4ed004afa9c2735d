"""Engines agree with their oracles: roofline <= tile, monotone in bandwidth, exact folds."""

from __future__ import annotations

from math import ceil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.engines.roofline import RooflineEngine
from tigris.engines.tile import TileEngine, systolic_compute_cycles, time_systolic_gemm
from tigris.engines.tile.gpu import _gpu_gemm_one
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Attention, Gemm, Stream

GPU = "h100-sxm"
dims = st.integers(min_value=1, max_value=16384)


def with_bandwidth(chip: Chip, factor: float) -> Chip:
    dram = chip.memory.dram.model_copy(update={"bandwidth": chip.memory.dram.bandwidth * factor})
    return chip.model_copy(update={"memory": chip.memory.model_copy(update={"dram": dram})})


def single_array_chip(rows: int, cols: int, dataflow: str) -> Chip:
    """A one-array systolic chip with ideal calibration, to compare with the closed form."""
    base = load_chip(GPU).model_dump()
    base.update(
        id="one-array",
        kind="tpu",
        matrix={
            "type": "systolic",
            "num_cores": 1,
            "arrays_per_core": 1,
            "rows": rows,
            "cols": cols,
            "clock": 1e9,
            "dataflow": dataflow,
            "macs_per_pe_per_cycle": {"bf16": 1.0},
        },
        calibration={
            "matrix_fraction": 1.0,
            "dram_fraction": 1.0,
            "kernel_overhead": 0.0,
            "host_overhead": 0.0,
        },
    )
    return Chip.model_validate(base)


@settings(max_examples=200, deadline=None)
@given(m=dims, n=dims, k=dims, dtype=st.sampled_from(["bf16", "fp8"]))
def test_tile_never_beats_the_roofline(m: int, n: int, k: int, dtype: str) -> None:
    chip = load_chip(GPU)
    op = Gemm("g", m, n, k, dtype=dtype)
    assert TileEngine().time(op, chip).time_s >= RooflineEngine().time(op, chip).time_s


@settings(max_examples=100, deadline=None)
@given(m=dims, n=dims, k=dims, factor=st.floats(1.0, 8.0))
def test_more_bandwidth_is_never_slower(m: int, n: int, k: int, factor: float) -> None:
    chip = load_chip(GPU)
    op = Gemm("g", m, n, k)
    slow = TileEngine().time(op, chip).time_s
    fast = TileEngine().time(op, with_bandwidth(chip, factor)).time_s
    assert fast <= slow * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 3000),
    n=st.integers(1, 3000),
    k=st.integers(1, 3000),
    size=st.sampled_from([(4, 4), (8, 16), (32, 32), (128, 128), (256, 256)]),
    dataflow=st.sampled_from(["os", "ws", "is"]),
)
def test_systolic_tile_equals_closed_form_on_one_array(m, n, k, size, dataflow) -> None:
    rows, cols = size
    chip = single_array_chip(rows, cols, dataflow)
    result = time_systolic_gemm(Gemm("g", m, n, k), chip)
    expected = {
        "os": ceil(m / rows) * ceil(n / cols) * (k + rows + cols - 2) - 1,
        "ws": ceil(k / rows) * ceil(n / cols) * (m + 2 * rows + cols - 2) - 1,
        "is": ceil(k / rows) * ceil(m / cols) * (n + 2 * rows + cols - 2) - 1,
    }[dataflow]
    assert systolic_compute_cycles(m, n, k, rows, cols, dataflow) == expected
    assert result.details["cycles"] == expected
    assert result.compute_s == pytest.approx(expected / 1e9, rel=1e-12)


def test_gpu_wave_quantization() -> None:
    """At a fixed tiling, one tile more than a full wave costs a whole extra wave."""
    chip = load_chip(GPU)
    sms = chip.matrix.num_sms
    bm, bn = chip.matrix.block_tile_m, chip.matrix.block_tile_n
    full = _gpu_gemm_one(Gemm("g", bm * sms, bn, 8192), chip, bm, bn, 1)
    over = _gpu_gemm_one(Gemm("g", bm * sms + 1, bn, 8192), chip, bm, bn, 1)
    assert full[3]["waves"] == 1 and over[3]["waves"] == 2
    assert over[0] == pytest.approx(2 * full[0], rel=1e-12)


def test_split_k_helps_when_tiles_are_few() -> None:
    """A GEMM with fewer tiles than SMs and a long K is split, and is faster for it."""
    chip = load_chip(GPU)
    op = Gemm("g", 128, 256, 65536)
    result = TileEngine().time(op, chip)
    assert result.details["split_k"] > 1
    unsplit = _gpu_gemm_one(op, chip, 128, 256, 1)
    assert result.time_s < max(unsplit[0], unsplit[1]) + chip.calibration.kernel_overhead


def test_decode_gemm_is_memory_bound_at_calibrated_bandwidth() -> None:
    chip = load_chip(GPU)
    op = Gemm("decode", 1, 28672, 8192, dtype="fp16")
    result = TileEngine().time(op, chip)
    assert result.bound == "memory"
    expected = op.min_bytes / (chip.dram_bandwidth_bytes_per_s * chip.calibration.dram_fraction)
    # A (one row) is re-read once per block column of B: a tiny excess over the minimum.
    assert expected <= result.memory_s <= expected * 1.001


@pytest.mark.parametrize("chip_id", ["h100-sxm"])
def test_attention_and_streams_respect_the_roofline(chip_id: str) -> None:
    chip = load_chip(chip_id)
    ops = [
        Attention("prefill", 4, 32, 8, 128, 4096, 4096),
        Attention("decode", 64, 32, 8, 128, 1, 8192),
        Attention("bwd", 4, 32, 8, 128, 4096, 4096, phase="bwd"),
        Stream("rmsnorm", 4096 * 8192, 2 * 4096 * 8192, 2 * 4096 * 8192, 4),
    ]
    for op in ops:
        assert TileEngine().time(op, chip).time_s >= RooflineEngine().time(op, chip).time_s


def test_causal_pairs_closed_form() -> None:
    full = Attention("a", 1, 1, 1, 64, 1000, 1000, causal=False)
    causal = Attention("a", 1, 1, 1, 64, 1000, 1000, causal=True)
    decode = Attention("a", 1, 1, 1, 64, 1, 1000, causal=True)
    assert full.num_pairs == 1000 * 1000
    assert causal.num_pairs == 1000 * 1001 / 2
    assert decode.num_pairs == 1000
