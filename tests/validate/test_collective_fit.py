"""The collective constants' fitter: the rewrite of the cluster reproduces the shipped model
exactly, the fitter recovers constants it generated rows with, and held-out scores re-fit
without the row's source or system."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tigris.validate.collective_fit import SHIPPED, fit_collectives, predict_with
from tigris.validate.collective_protocol import fit_set, validate_collectives_protocol
from tigris.validate.collectives import predict
from tigris.validate.protocol import summarize_groups


def test_shipped_constants_are_the_model() -> None:
    for case in fit_set():
        assert predict_with(case, SHIPPED) == pytest.approx(predict(case), rel=1e-12)


def test_fitter_recovers_the_constants_it_generated() -> None:
    truth = replace(SHIPPED, scale_up_bus_efficiency=0.6, collective_start_s=12e-6)
    rows = tuple(c for c in fit_set() if c.num_ranks == c.ranks_per_node)[:30]
    synthetic = tuple(replace(c, measured=predict_with(c, truth)) for c in rows)
    fit = fit_collectives(synthetic)
    assert fit.constants.scale_up_bus_efficiency == pytest.approx(0.6)
    assert fit.constants.collective_start_s == pytest.approx(12e-6)
    assert fit.row_ids == tuple(c.row_id for c in rows)
    assert fit.loss == pytest.approx(0.0, abs=1e-9)


def test_held_out_by_system() -> None:
    """Leave-one-system-out: every row scored by constants fitted on the other systems;
    the 80 % bands hold 70-90 % of the held-out measurements overall."""
    found = validate_collectives_protocol(holdout="chip")
    overall = next(g for g in summarize_groups(found.scored) if g["group"] == "all")
    assert overall["rows"] == 118
    assert overall["held_out_mape"] < 60
    assert 0.7 <= overall["interval_coverage"] <= 0.9
    assert {u.id for u in found.unmapped} == {c.row_id for c in found.cases if c.skipped}
