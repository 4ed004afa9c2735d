"""The 80 % bands of gemm/train/infer/serve/compare (tigris.report.prediction_bands):
which held-out rows a query gets, that a rate's band is its time band inverted, and that
the rule is calibrated on rows it never saw (leave one source out: about 80 % of the
left-out rows fall inside the band the other sources give)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.report import prediction_bands as bands
from tigris.report.prediction_bands import chip_band, prediction_band

pytestmark = pytest.mark.skipif(not bands._table(), reason="no prediction_bands.json shipped")


def _chip(chip_id: str):
    from tigris.hardware.presets import load_chip

    return load_chip(chip_id)


def test_fitted_chip_takes_rows_held_out_by_source_unmeasured_by_chip() -> None:
    fitted = chip_band("train", 2.0, _chip("h100-sxm"), metric="step_time_s", precision="bf16")
    unmeasured = chip_band("train", 2.0, _chip("tigris-1"), metric="step_time_s")
    assert fitted is not None and unmeasured is not None
    assert "by source" in fitted["basis"] and "chip fitted" in fitted["basis"]
    assert "by chip" in unmeasured["basis"] and "chip unmeasured" in unmeasured["basis"]
    assert fitted["coverage"] == unmeasured["coverage"] == 0.8


def test_a_rate_band_is_the_time_band_inverted() -> None:
    kwargs = {"chip_id": "h100-sxm", "vendor": "nvidia", "fitted": True, "precision": "fp8"}
    time_band = prediction_band("infer", 10.0, metric="t", **kwargs)
    rate_band = prediction_band("infer", 10.0, metric="r", rate=True, **kwargs)
    assert time_band and rate_band
    assert rate_band["low"] == pytest.approx(100.0 / time_band["high"])
    assert rate_band["high"] == pytest.approx(100.0 / time_band["low"])


def test_no_band_without_a_positive_value() -> None:
    assert (
        prediction_band("gemm", 0.0, metric="time_s", chip_id="x", vendor="y", fitted=False) is None
    )


def _left_out_coverage(category: str, holdout: str) -> float:
    """Fraction of each source's rows inside the band built from the other sources' rows
    (the selection rule of prediction_band, rows of the left-out source removed)."""
    rows = [r for r in bands._table() if r["category"] == category and r["holdout"] == holdout]
    inside = 0
    for row in rows:
        others = [r for r in rows if r["source"] != row["source"]]
        _, similar = bands._similar_rows(others, row["chip"], row["vendor"], row["precision"])
        deciles = bands.statistics.quantiles(
            [r["ratio"] for r in similar], n=10, method="inclusive"
        )
        inside += deciles[0] <= row["ratio"] <= deciles[-1]
    return inside / len(rows)


@pytest.mark.parametrize("category", ["gemm", "train", "infer"])
def test_bands_cover_about_80_percent_of_rows_they_never_saw(category: str) -> None:
    coverage = _left_out_coverage(category, "source")
    assert 0.7 <= coverage <= 0.9, f"{category}: {coverage:.0%} of left-out rows in the band"


def test_train_and_infer_json_carry_the_interval() -> None:
    train = subprocess.run(
        [sys.executable, "-m", "tigris", "train", "llama3-8b", "--chip", "h100-sxm",
         "--num-chips", "8", "--global-batch", "64", "--seq-len", "4096", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = json.loads(train.stdout)
    band = found["interval"]
    assert band["metric"] == "step_time_s" and band["low"] < band["high"]


def test_serve_and_infer_carry_a_throughput_interval() -> None:
    from tigris.api import infer, serve

    served = serve("llama3-8b", chip="h100-sxm", num_chips=1, num_requests=50).to_dict()
    estimated = infer("llama3-8b", chip="tpu-v7", num_chips=1, batch=8).to_dict()
    for found in (served, estimated):
        band = found["interval"]
        assert band["metric"] == "throughput_tokens_per_s" and band["low"] < band["high"]
    assert "chip unmeasured" in estimated["interval"]["basis"]


@pytest.mark.parametrize("category", ["gemm", "train", "infer"])
def test_an_unmeasured_chip_band_contains_the_fitted_chips_band(category: str) -> None:
    # a chip and vendor no row has: the fitted band is over every row of the category
    every = prediction_band(category, 1.0, metric="t", chip_id="x", vendor="y", fitted=True)
    kwargs = {"metric": "t", "vendor": "nvidia", "precision": "bf16"}
    unmeasured = prediction_band(category, 1.0, chip_id="x", fitted=False, **kwargs)
    assert unmeasured["low"] <= every["low"] and unmeasured["high"] >= every["high"]


def test_gemm_carries_the_band_of_the_tile_engine_only() -> None:
    from tigris.api import gemm

    tile = gemm(4096, 4096, 4096, chip="h100-sxm").to_dict()
    assert (
        tile["interval"]["metric"] == "time_s"
        and tile["interval"]["low"] < tile["interval"]["high"]
    )
    assert gemm(4096, 4096, 4096, chip="h100-sxm", engine="roofline").to_dict()["interval"] is None


@pytest.mark.slow
def test_the_shipped_table_is_what_the_models_give_now() -> None:
    """After a model or fit change, regenerate: python -m tigris.validate.interval_table
    --write src/tigris/report/data/prediction_bands.json (a few minutes)."""
    from tigris.validate.interval_table import build_table

    fresh = {(r["category"], r["holdout"], r["id"]): r["ratio"] for r in build_table()["rows"]}
    shipped = {(r["category"], r["holdout"], r["id"]): r["ratio"] for r in bands._table()}
    assert fresh.keys() == shipped.keys()
    assert all(fresh[key] == pytest.approx(shipped[key], rel=1e-5) for key in fresh)


@pytest.mark.parametrize(
    ("metric", "measured", "predicted", "ratio"),
    [
        ("time_s", 2.0, 1.0, 2.0),  # took twice the predicted time
        ("first_token_latency", 2.0, 1.0, 2.0),
        ("flop_per_s", 100.0, 200.0, 2.0),  # half the predicted rate: twice the time
        ("tokens_per_s", 100.0, 200.0, 2.0),
        ("completed_tokens_per_s", 100.0, 200.0, 2.0),
        ("megatron_flop_per_s_per_chip", 100.0, 200.0, 2.0),
        ("output_throughput", 100.0, 200.0, 2.0),
    ],
)
def test_a_row_ratio_is_measured_over_predicted_time(metric, measured, predicted, ratio) -> None:
    """The table's ratio is of TIMES whatever the row's metric: a rate named '..._per_s'
    is a rate, not a duration (the ratio of a model too fast is above 1)."""
    from tigris.validate.interval_table import time_ratio
    from tigris.validate.protocol import Scored, ValidationCase

    case = ValidationCase("r", "s", "c", "gemm", None, measured=measured, metric=metric)
    assert time_ratio(Scored(case, predicted, predicted)) == pytest.approx(ratio)
