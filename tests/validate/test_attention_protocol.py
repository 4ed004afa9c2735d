"""validate attention under the protocol: the fitter records its rows and reproduces the
presets' fractions; held-out figures are scored without the row's own group."""

from __future__ import annotations

import pytest

from tigris.hardware.presets import load_chip
from tigris.validate.attention_protocol import (
    fit_attention,
    fit_set,
    held_out_chip,
    validate_attention_protocol,
)
from tigris.validate.protocol import summarize_groups


def _all(found) -> dict:
    return next(g for g in summarize_groups(found.scored) if g["group"] == "all")


@pytest.mark.parametrize(("chip_id", "implementation"), [("h100-sxm", "flash2"), ("a100-sxm-80gb", "flash2")])  # fmt: skip
def test_fitter_reproduces_the_preset(chip_id: str, implementation: str) -> None:
    rows = tuple(
        c for c in fit_set() if c.chip_id == chip_id and c.implementation == implementation
    )
    fit = fit_attention(chip_id, implementation, rows)
    assert fit.row_ids == tuple(c.row_id for c in rows) and len(rows) >= 20
    preset = load_chip(chip_id).calibration.attention_fraction[implementation]
    assert fit.fraction == pytest.approx(preset, abs=0.011)


def test_held_out_by_source_drops_the_fractions() -> None:
    """Every packaged row is Dao 2023's: without it no fraction is left to fit."""
    chip = held_out_chip("h100-sxm", "source", "Dao")
    assert chip.calibration.attention_fraction == {}
    assert held_out_chip("h100-sxm", "source", "elsewhere").calibration.attention_fraction


def test_held_out_by_chip() -> None:
    """Leave-one-chip-out: the A100's FlashAttention-2 runs near a GEMM's efficiency, so
    its rows predicted on defaults stay within 10 %; the H100's do not (its kernel issues
    Ampere's mma.sync): the held-out figure says so."""
    found = validate_attention_protocol(holdout="chip")
    groups = {(g["group"], g["name"]): g for g in summarize_groups(found.scored)}
    assert groups["chip", "a100-sxm-80gb"]["held_out_mape"] < 10
    assert (
        groups["chip", "h100-sxm"]["held_out_mape"] > groups["chip", "h100-sxm"]["in_sample_mape"]
    )
    assert all(row.predicted_held_out for row in found.scored)
    assert _all(found)["rows"] == 89 and _all(found)["fitted_rows"] == 69


def test_overlap_share_is_the_pingpong_fit() -> None:
    """The flash3/cudnn overlap share is what fit_overlap derives from the FA3 paper's
    pingpong figures (570 -> 620-640 TFLOP/s), not a hand-set value."""
    from tigris.engines.tile.attention import OVERLAPPED_SOFTMAX
    from tigris.validate.attention import fit_overlap

    fraction, share = fit_overlap()
    assert 0.1 < share < 0.5 and 0.8 < fraction <= 1.0
    assert OVERLAPPED_SOFTMAX["flash3"] == pytest.approx(share, abs=0.002)
    assert OVERLAPPED_SOFTMAX["cudnn"] == OVERLAPPED_SOFTMAX["flash3"]


def test_fa3_bf16_rows_outside_the_fit_split() -> None:
    """Held out from every fit (split=held-out of data/measured-attention-extra.csv): the
    BF16 FlashAttention-3 and cuDNN rows at head dim 64 and 256, whose per-score cost (one
    exponential on the special-function units, partly hidden) differs from the fit split's
    head dim 128. Mean |error| 10.9 %, within 15 % (17.1 % with the former 0.8 / 0.7 shares)."""
    from pathlib import Path

    from tigris.validate.attention import attention_case_or_reason, evaluate_attention
    from tigris.validate.protocol import map_rows, read_measured

    path = Path(__file__).parents[2] / "data" / "measured-attention-extra.csv"
    cases, _ = map_rows(read_measured(path, ("attention",)), attention_case_or_reason)
    held = [
        c
        for c in cases
        if c.split == "held-out" and c.implementation in ("flash3", "cudnn") and c.dtype == "fp16"
    ]
    assert len(held) >= 40
    errors = [abs(evaluate_attention(c).error_pct) for c in held]
    assert sum(errors) / len(errors) < 15
