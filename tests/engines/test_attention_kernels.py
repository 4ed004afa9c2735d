"""Attention kernels in the tile engine: tile counts under sliding and chunked windows, the
value width of MLA (QK 192, AV 128) in every timing path, and the kernel table's
implementations."""

from __future__ import annotations

from math import ceil

import pytest

from tigris.engines.tile.attention import (
    _flash_blocks,
    flash_seconds,
    systolic_attention_work,
    unfused_attention_ops,
)
from tigris.engines.tile.common import ATTENTION_BLOCK_Q
from tigris.engines.tile.systolic import systolic_chip
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Attention


def _op(**fields) -> Attention:
    base = dict(batch=1, num_heads=8, num_kv_heads=8, head_dim=128, q_len=4096, kv_len=4096)
    return Attention("attn", **{**base, **fields})


def _tiles_by_scan(op: Attention) -> int:
    """Key tiles computed, by looking at every query block's first and last query."""
    block, offset, tiles = ATTENTION_BLOCK_Q, op.kv_len - op.q_len, 0
    for start in range(0, op.q_len, block):
        first = offset + start
        last = min(op.kv_len, offset + start + block)  # exclusive
        keys = min(op.first_key(q) for q in range(first, last))
        tiles += ceil(last / block) - keys // block
    return tiles


@pytest.mark.parametrize("mode", ["sliding", "chunked"])
@pytest.mark.parametrize("window", [256, 1000, 8192])
def test_window_tiles_follow_the_window_mode(mode: str, window: int) -> None:
    op = _op(window=window, window_mode=mode)
    _, pairs = _flash_blocks(op)
    assert pairs == _tiles_by_scan(op) * ATTENTION_BLOCK_Q**2
    assert pairs >= op.num_pairs  # whole tiles cover every pair the window keeps


def test_chunked_window_computes_fewer_tiles_than_sliding() -> None:
    """A 1024-token chunk: a query sees at most 1024 keys of its own chunk, never the
    previous chunk's (sliding would reach back 1023 keys across the boundary)."""
    chunked = _flash_blocks(_op(window=1024, window_mode="chunked"))[1]
    sliding = _flash_blocks(_op(window=1024, window_mode="sliding"))[1]
    assert chunked < 0.6 * sliding


def _flash_matrix_s(op: Attention) -> float:
    figures = dict(units=132, peak=1e15, fraction=0.5, special=4e12, on_vector=False)
    return flash_seconds(op, **figures, vector_flop=6e13, dram_rate=3e12)[4]


def test_mla_value_width_sets_the_flash_matmul_time() -> None:
    """QK 192 + AV 128 is 320 wide per pair: the time of standard heads of 160, not 384."""
    mla = _op(head_dim=192, v_head_dim=128)
    assert _flash_matrix_s(mla) == pytest.approx(_flash_matrix_s(_op(head_dim=160)), rel=1e-12)
    assert _flash_matrix_s(mla) < 0.9 * _flash_matrix_s(_op(head_dim=192))


@pytest.mark.parametrize("phase", ["fwd", "bwd"])
def test_unfused_kernels_use_the_value_width(phase: str) -> None:
    """Non-causal (the unfused GEMMs compute every key): forward the op's flop, backward
    four GEMMs where the op counts 2.5 forwards (FlashAttention's recompute)."""
    mla = _op(head_dim=192, v_head_dim=128, phase=phase, implementation="standard", causal=False)
    kernels = unfused_attention_ops(mla, load_chip("h100-sxm"))
    flop = sum(k.flop for k in kernels if hasattr(k, "m"))
    assert flop == pytest.approx(mla.flop * (1.0 if phase == "fwd" else 2.0 / 2.5), rel=1e-12)


def test_systolic_attention_uses_the_value_width() -> None:
    geometry = systolic_chip(load_chip("tpu-v5p")).geometry
    mla = systolic_attention_work(
        _op(head_dim=192, v_head_dim=128, q_len=512, kv_len=512), geometry
    )
    wide = systolic_attention_work(_op(head_dim=192, q_len=512, kv_len=512), geometry)
    assert mla[0] < wide[0]  # fewer PV folds
    assert mla[1] < wide[1]  # fewer PV partial-sum adds


def _flash_compute_s(implementation: str, head_dim: int = 128) -> float:
    from tigris.engines.tile.attention import _flash_one

    return _flash_one(_op(head_dim=head_dim, implementation=implementation), load_chip("h100-sxm"))[
        0
    ]


def test_overlapped_softmax_is_faster_than_serialised_at_one_fraction() -> None:
    """flash3's softmax runs under the other warp group's GEMMs (Shah et al. 2024 sec. 3.1):
    at the same matrix fraction it takes less than the serialised sum."""
    from tigris.engines.tile import attention

    op = _op(implementation="flash3")
    figures = dict(units=132, peak=989e12, fraction=0.75, special=3.9e12, on_vector=False)
    serial = flash_seconds(op, **figures, vector_flop=6.7e13, dram_rate=3e12)
    hidden = attention.OVERLAPPED_SOFTMAX["flash3"]
    overlapped = flash_seconds(op, **figures, vector_flop=6.7e13, dram_rate=3e12, hidden=hidden)
    _, _, _, _, matrix_s, special_s, vector_s = serial
    assert overlapped[0] < serial[0]
    assert overlapped[0] >= max(matrix_s, special_s + vector_s)


def test_extra_rows_map_with_their_phase_dtype_and_split() -> None:
    from pathlib import Path

    from tigris.validate.attention import AttentionCase, attention_case_or_reason
    from tigris.validate.protocol import map_rows, read_measured

    path = Path(__file__).parents[2] / "data" / "measured-attention-extra.csv"
    cases, unmapped = map_rows(read_measured(path, ("attention",)), attention_case_or_reason)
    assert not unmapped
    assert all(isinstance(c, AttentionCase) and c.phase == "fwd" for c in cases)
    assert {c.implementation for c in cases} >= {"flash3", "cudnn", "triton"}
    assert any(c.dtype == "fp8" for c in cases)
    fit = [c for c in cases if c.split == "fit"]
    assert fit and all(c.head_dim == 128 and c.dtype == "fp16" for c in fit)


def test_cli_times_flash3_and_rejects_an_unknown_impl() -> None:
    import json
    import subprocess
    import sys

    base = [sys.executable, "-m", "tigris", "attention", "--chip", "h100-sxm", "--batch", "4"]
    base += ["--heads", "16", "--head-dim", "128", "--seq-len", "4096"]
    done = subprocess.run([*base, "--impl", "flash3", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["time_s"] > 0
    bad = subprocess.run([*base, "--impl", "flash9"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "--impl" in bad.stderr


def test_exponentials_without_published_sfu_rate_cost_the_stated_default() -> None:
    """A chip with no vector.special runs each exponential on the vector unit at
    VECTOR_LANE_CYCLES['exp'] lane-cycles (EXP_FLOP_ON_VECTOR flop of the FMA peak), not
    one flop; Blackwell's rate is published (16 per SM per clock, FlashAttention-4 blog)."""
    from tigris.engines.tile.attention import EXP_FLOP_ON_VECTOR
    from tigris.engines.tile.common import VECTOR_LANE_CYCLES

    assert EXP_FLOP_ON_VECTOR == 2 * VECTOR_LANE_CYCLES["exp"] > 1
    op = _op(head_dim=64)
    figures = dict(units=132, peak=989e12, fraction=0.75, special=1.0, on_vector=True)
    _, _, _, _, _, special_s, vector_s = flash_seconds(
        op, **figures, vector_flop=6.7e13, dram_rate=3e12
    )
    _, scores = _flash_blocks(op)
    assert special_s == 0.0
    assert vector_s * 6.7e13 >= scores * op.batch * op.num_heads * EXP_FLOP_ON_VECTOR
    assert load_chip("b200").special_per_s() == pytest.approx(16 * 148 * 1856e6, rel=0.01)
