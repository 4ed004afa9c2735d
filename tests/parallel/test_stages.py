"""Pipeline stages: uneven splits (explicit --pp-layers, the Megatron-LM / Llama 3 split the
search proposes), layers of several kinds, and models whose layers are alike unchanged.

data/stages_uniform_baseline.json was written by the step model before stages were added
(commit 4f61903's tree), with the CASES below: the same plans must give the same floats.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.parallel.stages import (
    balanced_split,
    candidate_splits,
    check_pp_layers,
    stage_groups,
)
from tigris.parallel.step import StepModel, TrainSetup, no_memo
from tigris.workload import load_model

BASELINE = Path(__file__).parent / "data" / "stages_uniform_baseline.json"
CASES = [
    (
        "llama3-70b",
        64,
        128,
        4096,
        {"tp": 8, "pp": 4, "dp": 2, "recompute": "selective"} | {"sequence_parallel": True},
    ),
    ("llama3-70b", 64, 128, 4096, {"tp": 8, "pp": 4, "dp": 2, "virtual_stages": 5, "zero": 1}),
    ("gpt3-175b", 1024, 1536, 2048, {"tp": 8, "pp": 8, "dp": 16, "recompute": "full", "zero": 3}),
    ("llama3-8b", 8, 64, 4096, {"tp": 1, "pp": 1, "dp": 8, "zero": 2}),
    ("mixtral-8x7b", 64, 256, 4096, {"tp": 2, "pp": 4, "dp": 8, "ep": 8, "micro_batch": 2}),
    ("mistral-7b", 16, 64, 8192, {"tp": 2, "pp": 2, "dp": 2, "cp": 2}),
]


def _setup(model: str, num_chips: int, batch: int, seq: int, chip: str = "h100-sxm") -> TrainSetup:
    cluster = load_cluster("dgx-h100")
    return TrainSetup(load_model(model), load_chip(chip), cluster, num_chips, batch, seq)


def _run_case(model: str, num_chips: int, batch: int, seq: int, plan: dict) -> dict:
    result = StepModel(_setup(model, num_chips, batch, seq)).evaluate(ParallelPlan(**plan))
    data = result.to_dict()
    data["tree"] = result.tree.to_dict(traffic=True)
    return json.loads(json.dumps(data))


def test_alike_layers_give_the_baseline_exactly() -> None:
    """Step time, memory, breakdown and traffic of even splits of alike layers, memoised
    or not: the floats pinned in the baseline file (written by the model before stages
    and layer kinds, so the restructuring moved nothing; regenerated only when a
    deliberate mechanism change moves them, named in that commit)."""
    expected = json.loads(BASELINE.read_text())
    assert [_run_case(*case) for case in CASES] == expected
    with no_memo():
        assert _run_case(*CASES[0]) == expected[0]


def test_uneven_split_step_time_is_the_slowest_stage() -> None:
    """6 + 11 + 8 + 7 layers: the 11-layer second stage (no embedding, no head; the
    head and loss weigh about two layers here) is the slowest; on a chip that holds its
    clock, the step's forward and backward are the micro-batches through its 11 layers,
    and the bubble 3 of its micro-batches."""
    setup = _setup("llama3-8b", 4, 16, 2048, chip="mi300x")
    model = StepModel(setup)
    plan = ParallelPlan(pp=4, pp_layers=(6, 11, 8, 7))
    result = model.evaluate(plan)
    times = model.microbatch_times(plan)
    m = result.num_microbatches
    (fwd,), (bwd,) = times.layer_fwd_s, times.layer_bwd_s
    seconds = result.seconds
    assert seconds.compute.forward == pytest.approx(m * 11 * fwd, rel=1e-12)
    assert seconds.compute.backward == pytest.approx(m * 11 * bwd, rel=1e-12)
    assert seconds.compute.embedding_and_head == 0.0
    assert seconds.bubble_s == pytest.approx(3 * 11 * (fwd + bwd), rel=1e-12)
    assert 11 * (fwd + bwd) > 7 * (fwd + bwd) + times.head_s  # the premise
    # the same layers split evenly: the last stage (8 layers and the head) sets the pace
    even = model.evaluate(ParallelPlan(pp=4))
    assert even.seconds.compute.forward == pytest.approx(m * 8 * fwd, rel=1e-12)
    assert result.step_time_s > even.step_time_s


def test_balanced_split_of_llama_405b() -> None:
    assert balanced_split(126, 16) == (7, *(8,) * 14, 7)
    assert candidate_splits(126, 16) == [(7, *(8,) * 14, 7)]
    assert candidate_splits(126, 2) == [None]  # 63 + 63: the even split
    assert candidate_splits(126, 5) == [(25, 25, 26, 25, 25)]  # uneven: ends lighter
    assert candidate_splits(126, 127) == []


@given(st.integers(1, 300), st.integers(1, 64))
def test_candidate_splits_hold_every_layer(layers: int, pp: int) -> None:
    for split in candidate_splits(layers, pp):
        counts = split or (layers // pp,) * pp
        assert len(counts) == pp and sum(counts) == layers and min(counts) >= 1
        check_pp_layers(counts, pp, layers)  # valid as an explicit split too


@given(st.lists(st.integers(1, 20), min_size=1, max_size=12), st.data())
def test_stage_groups_count_every_layer_of_every_kind(counts: list[int], data) -> None:
    """Stages of a model with dense and MoE layers in any order: each kind's layers
    over the stages sum to the model's, and each stage holds its listed count."""
    layers = sum(counts)
    mlp = tuple(
        data.draw(st.lists(st.sampled_from(["dense", "moe"]), min_size=layers, max_size=layers))
    )
    spec = load_model("mixtral-8x7b").model_copy(update={"num_layers": layers, "mlp_pattern": mlp})
    spec = type(spec).model_validate(spec.model_dump())
    groups = stage_groups(spec, len(counts), 1, tuple(counts))
    kinds = spec.layer_kinds()
    by_stage = {}
    for group in groups:
        assert group.layers == sum(group.kinds)
    total = [0] * len(kinds)
    stages = [0] * len(counts)
    start = 0
    for stage, count in enumerate(counts):  # recount by hand, in order
        row = [0] * len(kinds)
        for kind in spec.layer_sequence()[start : start + count]:
            row[[k for k, _ in kinds].index(kind)] += 1
        start += count
        by_stage[stage] = tuple(row)
        stages[stage] = count
        total = [a + b for a, b in zip(total, row, strict=True)]
    assert total == [n for _, n in kinds]
    assert sorted({stages[g.first_stage] for g in groups}) == sorted(
        {sum(by_stage[g.first_stage]) for g in groups}
    )
    for group in groups:
        assert group.kinds == by_stage[group.first_stage]
        assert group.moe_layers == sum(
            n for n, (kind, _) in zip(group.kinds, kinds, strict=True) if kind.mlp == "moe"
        )


def test_dense_first_layers_land_on_the_first_stage() -> None:
    spec = load_model("mixtral-8x7b")
    mlp = ("dense",) * 3 + ("moe",) * (spec.num_layers - 3)
    spec = type(spec).model_validate(spec.model_dump() | {"mlp_pattern": mlp})
    first, *rest = stage_groups(spec, 4, 1, None)
    dense = [k for k, (kind, _) in enumerate(spec.layer_kinds()) if kind.mlp == "dense"][0]
    assert first.kinds[dense] == 3 and first.moe_layers == 5
    assert all(group.kinds[dense] == 0 for group in rest)


def test_mixed_layers_step_and_memory_run() -> None:
    """Dense and MoE layers: a step runs, and its memory sits between the all-dense
    and the all-MoE model's."""
    base = load_model("mixtral-8x7b")
    mlp = ("dense",) * 4 + ("moe",) * (base.num_layers - 4)
    mixed = type(base).model_validate(base.model_dump() | {"mlp_pattern": mlp})
    plan = ParallelPlan(tp=2, pp=4, dp=8, ep=8)
    setup = _setup("mixtral-8x7b", 64, 256, 4096)
    moe = StepModel(setup).evaluate(plan)
    from dataclasses import replace

    result = StepModel(replace(setup, spec=mixed)).evaluate(plan)
    assert result.step_time_s > 0
    assert result.memory.weights_bytes < moe.memory.weights_bytes


def test_check_plan_rejects_bad_splits() -> None:
    spec = load_model("llama3-8b")
    with pytest.raises(SpecError):
        check_plan(ParallelPlan(pp=2, dp=2, pp_layers=(10, 20)), spec, 4, 8, 1024)
    with pytest.raises(InfeasibleError):
        # a stage of 2 layers cannot fill 4 chunks (its second chunk holds no end)
        plan = ParallelPlan(pp=2, dp=2, pp_layers=(2, 30), virtual_stages=4)
        check_plan(plan, spec, 4, 8, 1024)
    check_plan(ParallelPlan(pp=2, dp=2, pp_layers=(14, 18)), spec, 4, 8, 1024)
    check_plan(ParallelPlan(pp=2, dp=2, pp_layers=(14, 18), virtual_stages=2), spec, 4, 8, 1024)


def _tigris(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


TRAIN_405B = ("train", "llama3.1-405b", "--chip", "h100-sxm", "--num-chips", "16384")
TRAIN_405B += ("--global-batch", "2048", "--seq-len", "8192", "--top", "1")


def test_cli_405b_at_pp16_plans_with_the_balanced_split() -> None:
    done = _tigris(*TRAIN_405B, "--pp", "16", "--tp", "8", "--cp", "1", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["plan"]
    assert plan["pp"] == 16 and plan["pp_layers"] == [7, *[8] * 14, 7]


def test_cli_pp_layers_explicit() -> None:
    layers = ",".join(["6"] + ["8"] * 14 + ["8"])
    done = _tigris(*TRAIN_405B, "--tp", "8", "--cp", "1", "--pp-layers", layers, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plan"]["pp_layers"][0] == 6


@pytest.mark.parametrize(
    ("value", "extra"),
    [("7,8", ()), ("7,x", ()), ("0,126", ()), ("63,63", ("--pp", "4"))],
)
def test_cli_bad_pp_layers(value: str, extra: tuple[str, ...]) -> None:
    done = _tigris(*TRAIN_405B, "--pp-layers", value, *extra)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--pp-layers" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
