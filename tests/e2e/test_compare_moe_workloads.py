"""`tigris compare --workload serve-deepseek-r1 | train-deepseek-v3`: the MoE workloads
are named in --help, described in --json, and run (on one or two chips in CI; on the
default chips in the slow test). The defaults run without them."""

from __future__ import annotations

import json

import pytest
import yaml

from cli_run import run_tigris
from tigris.compare.workloads import DEFAULT_WORKLOADS, NAMED_WORKLOADS, resolve_workload

MOE = ("serve-deepseek-r1", "train-deepseek-v3")


def _compare(*args: str):
    result = run_tigris("compare", *args, "--out", "", "--quiet", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_help_names_every_workload() -> None:
    result = run_tigris("compare", "--help", timeout=60)
    text = " ".join(result.stdout.replace("│", " ").split())
    for workload in NAMED_WORKLOADS:
        assert workload.name in text


def test_defaults_unchanged_and_moe_named() -> None:
    assert [w.name for w in DEFAULT_WORKLOADS] == ["train-70b", "serve-70b", "serve-8b"]
    serve, train = (resolve_workload(name) for name in MOE)
    assert (serve.model, serve.dtype, serve.input_len, serve.output_len) == (
        "deepseek-r1",
        "fp8",
        1024,
        8192,
    )
    assert (serve.slo_ttft_s, serve.slo_tpot_s) == (2.0, 0.080)
    assert (train.model, train.dtype, train.seq_len, train.num_chips) == (
        "deepseek-v3",
        "fp8",
        4096,
        2048,
    )


def test_serve_deepseek_r1_runs() -> None:
    """fp8 DeepSeek-R1 fits 8 H200s (141 GB each) but not 8 H100s (671 GB > 640 GB)."""
    data = _compare("--workload", "serve-deepseek-r1", "--chips", "h200-sxm,h100-sxm")
    [described] = data["workloads"]
    assert described["name"] == "serve-deepseek-r1" and described["output_len"] == 8192
    cells = data["results"]["serve-deepseek-r1"]
    assert cells["h200-sxm"]["tokens_per_s_per_chip"] > 0
    assert cells["h200-sxm"]["time_s"] <= 0.080  # TPOT within the SLO
    assert "GB of weights per chip" in cells["h100-sxm"]["reason"]


def test_train_deepseek_v3_report_layout_runs(tmp_path) -> None:
    """The named workload with the V3 report's layout held fixed (pp 16 x ep 64, ZeRO-1,
    no tp; sec. 3.2), as a workload file: a few plans instead of the whole search."""
    fields = resolve_workload("train-deepseek-v3").model_dump(mode="json", by_alias=True)
    plan = {"tp": 1, "pp": 16, "ep": 64, "zero": 1, "micro_batch": 1, "recompute": "none"}
    path = tmp_path / "v3-report-layout.yaml"
    path.write_text(yaml.safe_dump({**fields, "name": "v3-report-layout", "plan": plan}))
    data = _compare("--workload", str(path), "--chips", "b200")
    cell = data["results"]["v3-report-layout"]["b200"]
    assert cell["fits"] and (cell["plan"]["pp"], cell["plan"]["ep"]) == (16, 64)
    assert sum(cell["plan"]["pp_layers"]) == 61  # 61 layers over 16 uneven stages
    assert 0 < cell["mfu"] < 1 and cell["extra"]["time_to_train_s"] > 0


@pytest.mark.slow
def test_train_deepseek_v3_runs() -> None:
    """The whole plan search (about a minute on a loaded 2-core machine)."""
    data = _compare("--workload", "train-deepseek-v3", "--chips", "b200")
    cell = data["results"]["train-deepseek-v3"]["b200"]
    assert cell["plan"]["ep"] > 1 and cell["fits"]
    assert 0 < cell["mfu"] < 1 and cell["extra"]["time_to_train_s"] > 0


@pytest.mark.slow
def test_moe_workloads_on_default_chips() -> None:
    data = _compare("--workload", MOE[0], "--workload", MOE[1])
    for name in MOE:
        cells = data["results"][name]
        ran = [chip for chip, cell in cells.items() if cell.get("tokens_per_s_per_chip")]
        assert len(ran) >= 4, cells  # h200, b200, tpu-v5p, tigris-1 at least
