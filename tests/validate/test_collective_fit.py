"""The collective constants' fitter: the shipped file is its output on the packaged rows,
it recovers constants it generated rows with, and held-out scores re-fit without the row's
source or system."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from tigris.parallel.collectives import FIT_FILE
from tigris.validate.collective_fit import (
    START,
    fit_collectives,
    fit_file_text,
    predict_with,
    shipped,
)
from tigris.validate.collective_protocol import fit_set, validate_collectives_protocol
from tigris.validate.collectives import predict
from tigris.validate.protocol import summarize_groups


def test_shipped_constants_are_the_model() -> None:
    for case in fit_set():
        assert predict_with(case, shipped()) == pytest.approx(predict(case), rel=1e-12)


def test_fit_file_is_the_fitters_output() -> None:
    """Regenerate the fit on the packaged rows: the shipped file matches it, row ids too."""
    cases = fit_set()
    fresh = json.loads(fit_file_text(fit_collectives(cases), cases))
    path = resources.files("tigris.parallel") / "data" / FIT_FILE
    shipped_file = json.loads(path.read_text())
    assert shipped_file["constants"] == fresh["constants"]
    assert shipped_file["row_ids"] == fresh["row_ids"] == [c.row_id for c in cases]
    assert shipped_file["loss"] == pytest.approx(fresh["loss"], rel=1e-9)
    assert shipped().to_dict() == fresh["constants"]


def test_fitter_recovers_the_constants_it_generated() -> None:
    truth = replace(START, scale_up_bus_efficiency=0.6, collective_start_s=12e-6)
    rows = tuple(c for c in fit_set() if c.num_ranks == c.ranks_per_node)[:30]
    synthetic = tuple(replace(c, measured=predict_with(c, truth)) for c in rows)
    fit = fit_collectives(synthetic)
    assert fit.constants.scale_up_bus_efficiency == pytest.approx(0.6)
    assert fit.constants.collective_start_s == pytest.approx(12e-6)
    assert fit.row_ids == tuple(c.row_id for c in rows)
    assert fit.loss == pytest.approx(0.0, abs=1e-9)


def test_nvls_rows_are_scored_not_skipped() -> None:
    """The NVLS rows (default algorithm on H200/B200, NVLS on and off) are all scored."""
    ids = {c.row_id for c in fit_set()}
    assert {"mle_h200_ar_210", "mle_h200_coll_270", "mle_h200_coll_271"} <= ids
    off = next(c for c in fit_set() if c.row_id == "mle_h200_coll_271")
    assert off.algorithms == ("ring", "tree")
    on = next(c for c in fit_set() if c.row_id == "mle_h200_coll_270")
    assert predict_with(on) > 1.15 * predict_with(off)  # measured 480 vs 367 GB/s


def test_held_out_by_system() -> None:
    """Leave-one-system-out: every row scored by constants fitted on the other systems;
    the 80 % bands hold 70-90 % of the held-out measurements overall."""
    found = validate_collectives_protocol(holdout="chip")
    overall = next(g for g in summarize_groups(found.scored) if g["group"] == "all")
    assert overall["rows"] == 134
    assert overall["held_out_mape"] < 60
    assert 0.7 <= overall["interval_coverage"] <= 0.9
    assert not found.unmapped


def test_vidur_message_is_the_csv_size_in_bytes() -> None:
    """Vidur's profiler records size = elements x 2 as bytes (collectives_wrapper.py); the
    packaged rows call that column 'fp16 elements' and double it. Read as bytes, 8 A100
    ranks stay under NVLink 3's 300 GB/s of bus bandwidth (doubled: 348 GB/s)."""
    from tigris.validate.collectives import load_collective_cases

    case = next(c for c in load_collective_cases() if c.row_id == "vidur_ar_309")
    assert case.message_bytes == 67108864
    bus = case.message_bytes / case.measured * 2 * 7 / 8
    assert bus < 300e9 < 2 * bus
