"""DeepEP dispatch/combine and two-batch overlap in the serving step timer
(tigris.serving.ep_kernels), and the SGLang wide-EP rows of data/measured-moe.csv that
they map (tigris.validate.infer_moe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import csv_rows, validate_rows
from tigris.errors import SpecError
from tigris.serving.deployment import build_deployment
from tigris.serving.ep_kernels import deepep_layer_s, remote_nodes_per_token
from tigris.serving.step_time import StepTimer
from tigris.validate.infer_moe import expert_parallel_degree

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "measured-moe.csv"


def test_low_latency_reproduces_deepeps_table():
    """DeepEP README: EP64, 128 tokens, top-8, 7168 hidden: dispatch 186 us + combine
    353 us (their 40 and 41 GB/s) within the rounding of those figures."""
    seconds = deepep_layer_s(128, 64, 8, 7168, load=1.0)
    assert seconds == pytest.approx(186e-6 + 353e-6, rel=0.03)


def test_normal_kernels_send_one_copy_per_remote_node():
    assert remote_nodes_per_token(8, 8) == 0.0
    assert 2.5 < remote_nodes_per_token(32, 8) < 3.0  # 4 nodes: 3 x (1 - 0.75^8)
    # prefill at EP8 stays on NVLink: far faster than the same tokens over RDMA
    assert deepep_layer_s(4096, 8, 8, 7168, 1.0) < deepep_layer_s(4096, 32, 8, 7168, 1.0)


def _decode_s(**settings) -> float:
    deployment = build_deployment(
        "deepseek-v3", "h100-sxm", num_chips=64, tp=1, ep=64, weight_dtype="fp8",
        compute_dtype="fp8", **settings,
    )  # fmt: skip
    return StepTimer(deployment).decode_step_s(64 * 256, 2000)


def test_deepep_and_overlap_shorten_a_wide_ep_decode_step():
    nccl = _decode_s()
    deepep = _decode_s(ep_all_to_all="deepep")
    overlapped = _decode_s(ep_all_to_all="deepep", two_batch_overlap=True)
    assert overlapped < deepep < nccl


def test_unknown_all_to_all_is_a_spec_error():
    with pytest.raises(SpecError, match="ep_all_to_all"):
        build_deployment("mixtral-8x7b", "h100-sxm", ep_all_to_all="x" * 50)


def test_redundant_expert_slots_map_to_a_divisor():
    assert expert_parallel_degree(72, 256) == 64
    assert expert_parallel_degree(32, 256) == 32


def _rows(prefix: str) -> tuple[list[dict[str, str]], list[str]]:
    return csv_rows(DATA, lambda row: row["id"].startswith(prefix))


def _validate(tmp_path: Path, rows: list[dict[str, str]], fields: list[str]) -> dict:
    return validate_rows(tmp_path, "infer", rows, fields)


def test_sglang_rows_are_scored_through_the_cli(tmp_path):
    """Both SGLang rows are predicted (not unmapped) by `tigris validate infer`."""
    rows, fields = _rows("sglang_")
    out = _validate(tmp_path, rows, fields)
    assert not out["unmapped"]
    assert {row["row_id"] for row in out["rows"]} == {row["id"] for row in rows}
    assert all(abs(row["error_pct"]) < 50 for row in out["rows"]), out["rows"]


def test_a_row_without_its_setup_is_unmapped_not_a_crash(tmp_path):
    rows, fields = _rows("sglang_ep_h100_decode_2k")
    rows[0]["notes"] = rows[0]["notes"].replace("seqs_per_gpu=256", "")
    (item,) = _validate(tmp_path, rows, fields)["unmapped"]
    assert "seqs_per_gpu" in item["reason"]
