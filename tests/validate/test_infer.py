"""Inference validation against the infer_chip / infer_cluster rows of measured.csv."""

from __future__ import annotations

from tigris.validate.infer import source_family, summarize_by_source, validate_infer_rows


def test_tensorrt_llm_rows_within_fifteen_percent():
    results = validate_infer_rows(["TensorRT-LLM"])
    (summary,) = summarize_by_source(results)
    assert summary["num_rows"] >= 40
    assert summary["mean_abs_error_pct"] <= 15.0
    assert all("L40S" in r.skipped for r in results if r.skipped)


def test_llmcompass_rows_predicted_per_operator():
    results = validate_infer_rows(["LLMCompass"])
    (summary,) = summarize_by_source(results)
    assert summary["num_rows"] == 26 and summary["num_skipped"] == 0
    totals = [r for r in results if "layer_latency_sum" in r.metric]
    assert all(abs(r.error_pct) <= 15.0 for r in totals)
    assert summary["mean_abs_error_pct"] <= 25.0  # small eager-PyTorch ops are the weakest


def test_every_row_has_a_source_family():
    results = validate_infer_rows(["no such source"])
    assert results == []
    assert source_family({"source": "MLCommons MLPerf Inference v4.1 results"}) == (
        "MLPerf Inference v4.1"
    )
