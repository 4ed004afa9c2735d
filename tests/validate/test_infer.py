"""Inference validation against the infer_chip / infer_cluster rows of measured.csv."""

from __future__ import annotations

from pathlib import Path

import pytest

from tigris.hardware.presets import load_chip
from tigris.validate.infer import source_family, summarize_by_source, validate_infer_rows

# The accuracy target for serving on measurements the model never saw (issue 14:
# "serving within 15 %"); no quantity is fitted on these rows' sources, so their scores
# are held out (tigris.validate.infer_protocol). Not today's figures.
SERVING_TARGET_PCT = 15.0


def test_tensorrt_llm_rows_within_the_serving_target():
    results = validate_infer_rows(["TensorRT-LLM"])
    (summary,) = summarize_by_source(results)
    assert summary["num_rows"] >= 40
    assert summary["mean_abs_error_pct"] <= SERVING_TARGET_PCT
    assert all("L40S" in r.skipped for r in results if r.skipped)


def test_llmcompass_rows_held_out_within_the_serving_target():
    """Held out: neither LLMCompass's GEMM rows (A100 calibration re-fitted without them)
    nor its op sweeps (host paths from the prior) feed these predictions."""
    from tigris.validate.infer import evaluate_row, read_rows

    rows = [r for r in read_rows(("infer_cluster",)) if source_family(r) == "LLMCompass"]
    held = [evaluate_row(row, "source").error_pct for row in rows]
    assert len(held) == 26 and None not in held
    assert sum(abs(e) for e in held) / 26 <= SERVING_TARGET_PCT


def test_llmcompass_host_paths_from_the_harness_sweeps():
    from tigris.validate.infer import _llmcompass_host_s

    eager = _llmcompass_host_s("llmcompass_softmax_534")
    compiled = _llmcompass_host_s("llmcompass_layernorm_556")
    # torch.compile'd calls pay ~30 us more than an eager ATen launch (tritonbench #1017)
    assert 5e-6 < eager < 15e-6 and 25e-6 < compiled - eager < 50e-6


def test_every_row_has_a_source_family():
    results = validate_infer_rows(["no such source"])
    assert results == []
    assert source_family({"source": "MLCommons MLPerf Inference v4.1 results"}) == (
        "MLPerf Inference v4.1"
    )


def test_mlperf_rows_run_the_submitters_layout():
    """tp and in-flight batch from the published harness configs; 4-GPU H100 boards pair
    their GPUs over 6 NVLinks; B200 runs fp4 GEMMs; fp8 GEMMs keep bf16 activations."""
    from tigris.serving.step_time import StepTimer
    from tigris.validate.infer import (
        _mlperf_deployment,
        _mlperf_layouts,
        _mlperf_precision,
        _mlperf_system,
    )

    def row(hardware: str, num_chips: int, system: str, framework: str = "TensorRT 10.2.0"):
        return {
            "source": "MLCommons MLPerf Inference v4.1 results",
            "hardware": hardware,
            "num_chips": str(num_chips),
            "notes": f"system={system}; framework={framework}; samples/s=1",
        }

    dgx = _mlperf_system(row("NVIDIA H100-SXM-80GB", 8, "DGX-H100_H100-SXM-80GBx8_TRT"), "h100-sxm")
    assert _mlperf_layouts(dgx, "Offline") == [(2, 896)]
    assert _mlperf_layouts(dgx, "Server") == [(2, 1024)]
    board = _mlperf_system(row("NVIDIA H100-SXM-80GB", 4, "XE8640"), "h100-sxm")
    assert board.hgx4 and not dgx.hgx4
    cts = _mlperf_system(row("NVIDIA H200-SXM-141GB-CTS", 1, "H200-CTSx1"), "h200-sxm-cts")
    assert _mlperf_layouts(cts, "Offline") == [(1, 850)]
    assert load_chip(cts.chip_id).tdp == 1000.0  # the CTS part's power limit
    b200 = _mlperf_system(row("NVIDIA B200-SXM-180GB", 1, "B200x1"), "b200")
    assert [tp for tp, _ in _mlperf_layouts(b200, "Offline")] == [1]
    assert _mlperf_precision("b200").compute_dtype == "fp4"
    fp8 = _mlperf_deployment(dgx, 2, 896)
    assert fp8.precision.compute_dtype == "fp8" and fp8.activation_dtype == "bf16"
    # NVIDIA's harness: KV cache 0.9 of the free memory, 16384-token steps, custom all-reduce
    assert (fp8.memory_utilization, fp8.memory_utilization_of) == (0.9, "free")
    assert (fp8.token_budget, fp8.all_reduce) == (16384, "custom")
    nvl = _mlperf_system(row("NVIDIA H100-NVL-94GB", 8, "SR675_V3_8xH100_NVL_TRT"), "h100-nvl")
    assert _mlperf_layouts(nvl, "Offline") == [(2, 1300)]
    assert _mlperf_layouts(nvl, "Server") == [(2, 640)]
    amd = _mlperf_system(row("AMD Instinct MI300X", 8, "8xMI300X", "vLLM 0.4.3+rocm614"), "mi300x")
    vllm = _mlperf_deployment(amd, 1, 2048)
    assert not amd.trtllm and vllm.memory_utilization_of == "total"
    # the same tp-2 all-reduces take longer over a 6-link pair than through NVSwitch
    assert StepTimer(_mlperf_deployment(board, 2, 896))._comm_s(512) > 1.5 * (
        StepTimer(fp8)._comm_s(512)
    )


def test_llmcompass_held_out_reads_none_of_the_harness_sweeps(monkeypatch):
    """The leakage removed: held out, the host paths come from the prior, so the sweep
    rows (LLMCOMPASS_HOST_ROWS) are never read; in-sample they still are."""
    from tigris.validate import infer_llmcompass
    from tigris.validate.infer import evaluate_row, read_rows

    row = next(
        r for r in read_rows(("infer_cluster",)) if r["metric_name"] == "decode_GeLU_latency"
    )
    before = evaluate_row(row, "source").predicted

    def leak(row_id: str) -> float:
        raise AssertionError(f"held-out prediction read {row_id}")

    monkeypatch.setattr(infer_llmcompass, "_llmcompass_host_s", leak)
    assert evaluate_row(row, "source").predicted == before
    assert evaluate_row(row, "chip").predicted is not None
    with pytest.raises(AssertionError, match="held-out prediction read"):
        evaluate_row(row)  # in-sample reads them: the test can fail


def test_validate_infer_cli_scores_an_h100_nvl_mlperf_row(tmp_path):
    """An H100 NVL MLPerf row given with --data runs NVIDIA's published NVL layout (tp 2,
    1300 sequences) and is scored, not listed as unmapped."""
    import csv
    import json
    import subprocess
    import sys

    from tigris.validate import infer

    packaged = Path(infer.__file__).parent / "data" / "measured.csv"
    with open(packaged, newline="") as handle:
        reader = csv.DictReader(handle)
        wanted = "mlpi_v4.1_Lenovo_SR675_V3_8xH100_NVL_TRT_llama2-70b-99_Offline"
        row = next(r for r in reader if r["id"] == wanted)
        fields = reader.fieldnames
    data = tmp_path / "nvl.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerow(row)
    command = [sys.executable, "-m", "tigris", "validate", "infer", "--data", str(data)]
    done = subprocess.run(command + ["--json", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["unmapped"] == []
    (scored,) = result["rows"]
    assert scored["id"] == wanted and scored["predicted"] > 0
