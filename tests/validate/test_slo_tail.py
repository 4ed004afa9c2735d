"""Tail latency scoring (tigris.validate.slo_tail): hand-checked percentiles on a known
trace, and data/measured-slo.csv in measured.csv's schema with its sources."""

import csv
from pathlib import Path

import numpy as np
import pytest

from tigris.validate.protocol import read_measured
from tigris.validate.slo_tail import SLO_METRICS, evaluate_slo_row, trace_tails

DATA = Path(__file__).resolve().parents[2] / "data" / "measured-slo.csv"


def test_tails_of_a_known_trace_equal_hand_values():
    # 101 requests: request i arrives at i s, waits i ms for its first token and emits
    # 11 tokens 10 + i/10 ms apart (i = 0..100)
    i = np.arange(101, dtype=float)
    arrival = i
    first = arrival + i * 1e-3
    finish = first + 10 * (10e-3 + i * 1e-4)
    tails = trace_tails(arrival, first, finish, np.full(101, 11))
    # numpy's linear percentile of 0..100 is exactly p: p99 = 99, p90 = 90, p50 = 50
    assert tails["ttft_p99_s"] == pytest.approx(99e-3)
    assert tails["ttft_p90_s"] == pytest.approx(90e-3)
    assert tails["ttft_p50_s"] == pytest.approx(50e-3)
    assert tails["tpot_p99_s"] == pytest.approx(10e-3 + 99e-4)
    assert tails["tpot_p50_s"] == pytest.approx(10e-3 + 50e-4)


def test_single_token_outputs_have_no_tpot():
    tails = trace_tails(np.zeros(2), np.array([1.0, 2.0]), np.array([1.0, 4.0]), np.array([1, 3]))
    assert tails["tpot_p99_s"] == pytest.approx(1.0)  # only the 3-token request: 2 s / 2
    assert tails["ttft_p50_s"] == pytest.approx(1.5)


def test_csv_parses_in_the_measured_schema_with_sources():
    rows = read_measured(DATA, ("infer_cluster",))
    assert len(rows) == 6
    for row in rows:
        assert row["source"].startswith("MLCommons MLPerf Inference")
        assert row["source_locator"].endswith("mlperf_log_summary.txt")
        assert row["metric_name"] in SLO_METRICS
        assert "samples/s=" in row["notes"] and "tokens/s=" in row["notes"]


def test_unknown_metric_is_listed_with_a_reason():
    with DATA.open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    result = evaluate_slo_row(row | {"metric_name": "e2e_p99"})
    assert result.predicted is None and "not modelled" in result.skipped
