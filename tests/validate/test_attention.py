"""Attention kernels vs the Dao 2023 FlashAttention-2 figures (measured.csv attention rows)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tigris.engines.tile import time_attention
from tigris.hardware.presets import load_chip
from tigris.validate.attention import load_attention_cases, summarize_attention, validate_attention
from tigris.workload.ops import Attention


@pytest.fixture(scope="module")
def summary():
    return summarize_attention(validate_attention())


def test_all_rows_load():
    cases = load_attention_cases()
    assert len(cases) == 89
    assert {c.implementation for c in cases} == {"flash2", "flash1", "standard"}


@pytest.mark.parametrize(
    ("chip", "implementation", "tolerance"),
    [
        ("h100-sxm", "flash2", 2.5),  # reached 2.0%
        ("a100-sxm-80gb", "flash2", 2.0),  # reached 1.6%
        ("h100-sxm", "flash1", 14.0),  # reached 13.1%
        # standard: a pure mechanism with no fitted term; over-predicts by 56% (see report)
        ("h100-sxm", "standard", 60.0),
    ],
)
def test_mean_error(summary, chip, implementation, tolerance):
    assert summary[(chip, implementation)][1] <= tolerance


def _attention(**kw) -> Attention:
    base = dict(batch=4, num_heads=16, num_kv_heads=16, head_dim=128, q_len=4096, kv_len=4096)
    return Attention("a", **{**base, **kw})


def test_flash2_on_hopper_far_below_gemm_rate():
    h100 = load_chip("h100-sxm")
    op = _attention(causal=False)
    rate = op.flop / time_attention(op, h100).time_s
    assert 0.25 * h100.peak_flop_per_s("bf16") < rate < 0.45 * h100.peak_flop_per_s("bf16")


def test_exponentials_cost_more_for_small_head_dim():
    """SFU time per score is fixed, so a head dim of 64 reaches a lower flop rate than 128."""
    h100 = load_chip("h100-sxm")
    rates = []
    for d in (64, 128):
        op = _attention(head_dim=d, num_heads=2048 // d, causal=False)
        rates.append(op.flop / time_attention(op, h100).time_s)
    assert rates[0] < rates[1]


def test_unfused_attention_slower_than_flash():
    a100 = load_chip("a100-sxm-80gb")
    for phase in ("fwd", "bwd"):
        flash = _attention(phase=phase)
        standard = replace(flash, implementation="standard")
        fused = replace(flash, implementation="fused_softmax")
        # the separate mask kernel is forward only
        assert time_attention(standard, a100).time_s >= time_attention(fused, a100).time_s
        assert time_attention(fused, a100).time_s > time_attention(flash, a100).time_s
        dropout = replace(fused, dropout=True)
        assert time_attention(dropout, a100).time_s > time_attention(fused, a100).time_s


def test_unknown_implementation_rejected():
    with pytest.raises(ValueError, match="implementation"):
        _attention(implementation="flash9")


def test_decode_attention_not_padded():
    """A one-token query is not padded to a 128-row block: still memory-bound."""
    h100 = load_chip("h100-sxm")
    op = _attention(q_len=1, kv_len=8192, batch=64)
    result = time_attention(op, h100)
    assert result.memory_s > result.compute_s
