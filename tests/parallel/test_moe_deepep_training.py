"""MoE training's ep exchange through DeepEP's kernels (TrainSetup.ep_all_to_all 'deepep',
tigris.workload.moe.deepep_exchange_s) and the DeepSeek-V3 report row that runs it with
the DualPipe schedule and FP8 block scaling its notes state (tigris.validate.train)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from cli_run import csv_rows, validate_rows
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepModel, TrainSetup
from tigris.parallel.step_model import ep_overlap_slowdown
from tigris.workload.moe import (
    COMBINE_BYTES,
    FP8_DISPATCH_BYTES,
    deepep_exchange_s,
    deepep_layer_s,
)
from tigris.workload.presets import load_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "measured-moe.csv"
DSV3_ROW = "dsv3_report_h800_pretrain"


def test_exchange_splits_forward_and_mirrors_backward_in_bf16():
    both = deepep_layer_s(4096, 64, 8, 7168, 1.0)
    fwd, dispatch = deepep_exchange_s(4096, 64, 8, 7168, 1.0, "fwd")
    bwd, _ = deepep_exchange_s(4096, 64, 8, 7168, 1.0, "bwd")
    assert fwd == both
    assert dispatch == pytest.approx(both * FP8_DISPATCH_BYTES / (FP8_DISPATCH_BYTES + 2.0))
    assert bwd == pytest.approx(both * 2 * COMBINE_BYTES / (FP8_DISPATCH_BYTES + COMBINE_BYTES))
    assert deepep_exchange_s(4096, 1, 8, 7168, 1.0, "fwd") == (0.0, 0.0)


def _dsv3_setup(**changes) -> TrainSetup:
    setup = TrainSetup(
        load_model("deepseek-v3"),
        load_chip("h800"),
        load_cluster("hgx-h800"),
        2048,
        15360,
        4096,
    )
    return replace(setup, **changes)


PLAN = ParallelPlan(
    tp=1, pp=16, dp=128, ep=64, micro_batch=1, recompute="full", zero=1,
    pp_layers=(3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3),
)  # fmt: skip


def test_deepep_sends_less_across_nodes_than_nccl_all_to_all():
    """EP64 over 8 HGX nodes: one FP8 copy per remote node beats every routed BF16 copy
    through NCCL's all-to-all; the setup without ep keeps no ep time either way."""
    nccl = StepModel(_dsv3_setup()).evaluate(PLAN)
    deepep = StepModel(_dsv3_setup(ep_all_to_all="deepep")).evaluate(PLAN)
    assert 0 < deepep.seconds.comm.ep < nccl.seconds.comm.ep / 2
    assert deepep.step_time_s < nccl.step_time_s


def test_dualpipe_overlap_costs_deepeps_sm_share():
    assert ep_overlap_slowdown(_dsv3_setup(ep_all_to_all="deepep")) == pytest.approx(20 / 132)
    assert ep_overlap_slowdown(_dsv3_setup()) > 20 / 132  # NCCL's interference (overlap.py)
    dualpipe = PLAN.model_copy(update={"pp_schedule": "dualpipe"})
    nccl = StepModel(_dsv3_setup()).evaluate(dualpipe)
    deepep = StepModel(_dsv3_setup(ep_all_to_all="deepep")).evaluate(dualpipe)
    assert deepep.seconds.comm.ep < nccl.seconds.comm.ep


def test_dsv3_row_runs_its_stated_schedule_through_the_cli(tmp_path):
    """The report's row through `tigris validate train --data`: DualPipe and its layout,
    predicted (not a layout failure), exit 0, nothing on stderr but progress."""
    rows, fields = csv_rows(DATA, lambda row: row["id"] == DSV3_ROW)
    (row,) = validate_rows(tmp_path, "train", rows, fields)["rows"]
    assert row["plan"]["pp_schedule"] == "dualpipe"
    assert (row["plan"]["pp"], row["plan"]["ep"], row["plan"]["tp"]) == (16, 64, 1)
    assert row["predicted"] is not None and abs(row["error_pct"]) < 15.0


def test_layout_rows_keep_their_published_virtual_stages_and_scaling():
    """Megatron-Bridge's VP column ('vp=N' in the notes) and the report's fine-grained
    FP8 reach the case; only the report's row runs DeepEP."""
    from tigris.validate.train import train_case_or_reason

    with DATA.open(encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    qwen = train_case_or_reason(rows["mbridge2511_gb300_qwen3-235b-a22b_bf16"])
    assert qwen.fixed["virtual_stages"] == 12 and "pp_schedule" not in qwen.fixed
    assert "ep_all_to_all" not in qwen.framework
    dsv3 = train_case_or_reason(rows[DSV3_ROW])
    assert dsv3.framework["ep_all_to_all"] == "deepep"
    assert dsv3.framework["precision"].fp8_scaling == "block"
    assert "virtual_stages" not in dsv3.fixed
