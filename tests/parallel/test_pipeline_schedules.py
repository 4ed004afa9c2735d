"""Pipeline schedules: the bubble of 1F1B, interleaved 1F1B (uneven stages included) and
DualPipe against hand values and the DeepSeek-V3 Table 2 expression; interleaved chunks
of uneven splits; memory in flight; activations of a model's own layer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.memory import layer_activation_terms
from tigris.parallel.pipeline import (
    bubble_time_s,
    dualpipe_bubble_s,
    microbatches_in_flight,
)
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.stages import (
    balanced_split,
    chunk_groups,
    chunk_layer_counts,
    virtual_stage_choices,
)
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload import load_model

LLAMA_405B_SPLIT = (7, *(8,) * 14, 7)


def test_bubble_formulas_against_hand_values() -> None:
    # 1F1B: (p - 1) micro-batches of the stage; interleaved: (p - 1) / v of them
    assert bubble_time_s(16, 1, 2.0) == 30.0
    assert bubble_time_s(16, 8, 2.0) == pytest.approx(15 * 2.0 / 8, rel=1e-15)
    # DeepSeek-V3 Table 2: (PP/2 - 1)(F&B + B - 3W)
    for pp, f_and_b, b, w in [(8, 3.0, 2.0, 1.0), (16, 5.5, 3.0, 1.2), (2, 9.0, 9.0, 0.0)]:
        assert dualpipe_bubble_s(pp, f_and_b, b, w) == pytest.approx(
            (pp / 2 - 1) * (f_and_b + b - 3 * w), abs=1e-12
        )
    assert dualpipe_bubble_s(8, 3.0, 2.0, 1.0) == 6.0  # 3 x (3 + 2 - 3)


def test_llama_405b_chunks_as_meta_ran_them() -> None:
    """126 layers, pp 16, v 8: every chunk one layer but the first (embedding only) and
    the last (head only); the search tries v = 1, 2, 4, 8 on this split."""
    chunks = chunk_layer_counts(LLAMA_405B_SPLIT, 8)
    assert chunks[0] == (0, *(1,) * 7) and chunks[-1] == ((1,) * 7 + (0,))
    assert all(stage == (1,) * 8 for stage in chunks[1:-1])
    assert chunk_layer_counts(LLAMA_405B_SPLIT, 2) == ((3, 4), *((4, 4),) * 14, (4, 3))
    assert virtual_stage_choices(126, 16, balanced_split(126, 16), 8) == [1, 2, 4, 8]


@given(st.lists(st.integers(1, 24), min_size=2, max_size=12), st.integers(2, 8))
def test_uneven_interleaved_chunks_sum_to_each_stage(counts: list[int], v: int) -> None:
    chunks = chunk_layer_counts(tuple(counts), v)
    if chunks is None:  # only where a stage cannot give every chunk a layer (or an end)
        assert any(
            count < v - (stage in (0, len(counts) - 1)) for stage, count in enumerate(counts)
        )
        return
    for count, stage in zip(counts, chunks, strict=True):
        assert len(stage) == v and sum(stage) == count and max(stage) - min(stage) <= 1


def test_chunk_groups_hold_every_layer_once() -> None:
    spec = load_model("llama3.1-405b")
    groups = chunk_groups(spec, 16, 4, LLAMA_405B_SPLIT)
    ends = {code for group in groups for code in group.ends}
    assert ends == {0, 1, 2}
    assert sorted(group.layers for group in groups) == [1, 1, 2] or {g.layers for g in groups} == {
        1,
        2,
    }


def _setup(model: str, chips: int, batch: int, seq: int, chip: str = "h100-sxm") -> TrainSetup:
    chip, cluster = load_chip(chip), load_cluster("dgx-h100")
    return TrainSetup(load_model(model), chip, cluster, chips, batch, seq)


def test_interleaved_uneven_bubble_is_p_minus_1_slowest_chunks() -> None:
    """llama3-8b, 32 layers at pp 4 as 7 + 9 + 9 + 7, v 3: chunks of 3 layers, but 2 + 2
    + 3 on the first stage (the 2 with the embedding first) and 3 + 2 + 2 on the last (the
    2 with the head last): the bubble is 3 x the slowest chunk's micro-batch (here the
    head's: it weighs about two layers), below 1F1B's 3 x the slowest stage."""
    model = StepModel(_setup("llama3-8b", 8, 64, 2048, chip="mi300x"))  # holds its clock
    plan = ParallelPlan(pp=4, dp=2, pp_layers=(7, 9, 9, 7), virtual_stages=3)
    result = model.evaluate(plan)
    times = model.microbatch_times(plan)
    layer = times.layer_fwd_s[0] + times.layer_bwd_s[0]
    slowest = max(3 * layer, 2 * layer + times.head_s, 2 * layer + times.embedding_s)
    assert slowest == 2 * layer + times.head_s  # the premise
    assert result.seconds.bubble_s == pytest.approx(3 * slowest, rel=1e-9)
    one_f_one_b = model.evaluate(plan.model_copy(update={"virtual_stages": 1}))
    slowest_stage = max(9 * layer, 7 * layer + times.head_s)  # the last stage, here
    assert one_f_one_b.seconds.bubble_s == pytest.approx(3 * slowest_stage, rel=1e-9)
    assert result.seconds.bubble_s < one_f_one_b.seconds.bubble_s / 2


def test_dualpipe_step_bubble_memory_and_ep_overlap() -> None:
    """DualPipe on a MoE model: a smaller bubble than 1F1B, twice the parameters (and
    the p + 1 micro-batches in flight), the ep all-to-all no more exposed."""
    model = StepModel(_setup("mixtral-8x7b", 64, 256, 4096))
    base = ParallelPlan(tp=2, pp=4, dp=8, ep=8, micro_batch=2)
    dual = base.model_copy(update={"pp_schedule": "dualpipe"})
    one, two = model.evaluate(base), model.evaluate(dual)
    assert two.seconds.bubble_s < one.seconds.bubble_s
    assert two.seconds.comm.ep <= one.seconds.comm.ep
    assert two.memory.weights_bytes == pytest.approx(2 * one.memory.weights_bytes, rel=1e-12)
    assert microbatches_in_flight(4, 16, 1, 0, "dualpipe") == 5.0
    assert two.plan.as_dict()["pp_schedule"] == "dualpipe"
    assert "pp_schedule" not in one.plan.as_dict()


def test_interleaved_in_flight_per_stage() -> None:
    # Megatron-LM: 2 (p - 1 - s) + (v - 1) p chunk forwards, + 1, over v; all when m = p
    assert microbatches_in_flight(4, 64, 5, 0) == pytest.approx(23 / 5)
    assert microbatches_in_flight(4, 64, 5, 2) == pytest.approx(19 / 5)
    assert microbatches_in_flight(16, 16, 8, 1) == 16.0


def test_activation_terms_of_a_models_own_layer() -> None:
    """GPT-3 with dropout: Korthikanti's 10 + 24; Llama 3.1 405B (GQA 8/128, 3.25h
    SwiGLU, no dropout): 8 + 23.75 = 31.75 s b h / t."""
    assert layer_activation_terms(load_model("gpt3-175b"), dropout=True) == (10.0, 24.0)
    assert layer_activation_terms(load_model("llama3.1-405b")) == (8.0, 23.75)


def test_cli_rejects_an_unknown_schedule(tmp_path) -> None:
    out = tmp_path / "out.json"
    args = ["train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8"]
    args += ["--global-batch", "64", "--seq-len", "2048", "--pp-schedule", "zigzag"]
    run = subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "--pp-schedule" in run.stderr and "zigzag" in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 2
    assert not out.exists()
