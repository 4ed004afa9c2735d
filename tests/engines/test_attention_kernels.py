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
