"""Training-side MoE hooks: routing imbalance scales the ep all-to-all, shared experts
hide the dispatch, block-scaled FP8 GEMMs, balanced uneven pipeline splits found by the
search, and fine-tuning's own model flop in MFU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.engines.base import get_engine
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.overlap import collective_slowdown, shared_expert_overlap_s
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.search import pipeline_sizes
from tigris.parallel.sharded_step import as_run
from tigris.parallel.stages import candidate_splits, check_pp_layers, uneven_split
from tigris.parallel.step import StepModel, TrainSetup
from tigris.parallel.step_model import DIRECT, EngineOpTimes, StepInputs, layer_comm
from tigris.parallel.step_result import model_flop_per_token
from tigris.workload import load_model
from tigris.workload.finetune import make_finetune, with_finetune
from tigris.workload.ops import Gemm, Stream, make_gemm
from tigris.workload.precision import Precision
from tigris.workload.spec import TransformerSpec


def _setup(model: str, chips: int, batch: int, seq: int = 4096, **kw) -> TrainSetup:
    spec = load_model(model)
    return TrainSetup(
        spec, load_chip("h100-sxm"), load_cluster("dgx-h100"), chips, batch, seq, **kw
    )


class _Recorder(StepInputs):
    """StepInputs that remember the ep collectives' message bytes."""

    def __init__(self) -> None:
        self.ep_bytes: list[float] = []

    def collective_s(self, setup, kind, message_bytes, size, stride):  # noqa: ANN001, ANN201
        if kind == "all_to_all":
            self.ep_bytes.append(message_bytes)
        return super().collective_s(setup, kind, message_bytes, size, stride)


def test_training_all_to_all_grows_with_imbalance() -> None:
    """--moe-imbalance F scales training's dispatch and combine bytes by F, as serving's."""
    plan = ParallelPlan(tp=1, pp=1, dp=64, ep=8)
    seconds, sent = [], []
    for factor in (1.0, 1.5):
        recorder = _Recorder()
        setup = _setup("mixtral-8x7b", 64, 64, moe_imbalance=factor)
        seconds.append(layer_comm(setup, plan, "fwd", recorder).ep)
        sent.append(recorder.ep_bytes)
    assert len(sent[0]) == 2 and sent[1] == [1.5 * b for b in sent[0]]
    assert seconds[1] > seconds[0]


def test_shared_experts_hide_the_dispatch_by_hand() -> None:
    """DeepSeek-V3 (one shared expert), pp 1: the step's exposed ep is m x (each MoE
    layer's all-to-alls less what its shared expert hides of the forward dispatch)."""
    setup = _setup("deepseek-v3", 64, 64)
    plan = ParallelPlan(tp=1, pp=1, dp=64, ep=64)
    op_times = EngineOpTimes(get_engine("tile"), setup.chip)
    figures = DIRECT.figures(setup, plan)
    step = DIRECT.sharded(setup, plan)
    groups = DIRECT.group_seconds(setup, plan, step, op_times)
    kinds = setup.spec.layer_kinds()
    moe = [k for k, (kind, _) in enumerate(kinds) if kind.mlp == "moe"][0]
    dense = 1 - moe
    assert groups.layer_shared[dense] == 0.0 and groups.layer_shared[moe] > 0.0
    saved = shared_expert_overlap_s(
        figures.dispatch_s, groups.layer_shared[moe], collective_slowdown(setup.chip)
    )
    assert 0.0 < saved <= figures.dispatch_s
    (stage,) = figures.stages
    expected = figures.num_microbatches * (stage.ep_s - kinds[moe][1] * saved)
    result = StepModel(setup).evaluate(plan)
    assert result.seconds.comm.ep == pytest.approx(expected, rel=1e-12)
    assert result.seconds.comm.ep < figures.num_microbatches * stage.ep_s


@given(st.integers(1, 400), st.integers(1, 128))
def test_uneven_split_spreads_the_layers(layers: int, pp: int) -> None:
    """Any pp up to the layers: counts sum to the layers, every stage holds one, the
    middle stages differ by at most 1, the ends hold no more than the middle."""
    split = uneven_split(layers, pp)
    if pp > layers:
        assert split is None and candidate_splits(layers, pp) == []
        return
    assert split is not None and len(split) == pp and sum(split) == layers
    assert min(split) >= 1 and max(split) - min(split) <= 1
    middle = split[1:-1]
    if middle:
        assert max(middle) - min(middle) <= 1 and max(split[0], split[-1]) <= max(middle)
    check_pp_layers(split, pp, layers)
    if layers % pp:
        assert candidate_splits(layers, pp) == [split]


def test_deepseek_v3_61_layers_at_pp16() -> None:
    """The split a user typed by hand: 3 + 4 x 13 + 3 + 3; the search now tries pp 16."""
    assert uneven_split(61, 16) == (3, *(4,) * 13, 3, 3)
    assert 16 in pipeline_sizes(61, 2048)


def test_cli_plans_deepseek_v3_at_pp16_without_pp_layers() -> None:
    """`tigris train deepseek-v3 --pp 16` (61 layers) plans: exit 0, the uneven split."""
    args = ["train", "deepseek-v3", "--chip", "h800", "--num-chips", "2048"]
    args += ["--global-batch", "15360", "--seq-len", "4096", "--tp", "1", "--ep", "64"]
    args += ["--zero", "1", "--dtype", "fp8", "--pp", "16", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-400:]
    assert "Traceback" not in done.stderr
    plan = json.loads(done.stdout)["plan"]
    assert plan["pp"] == 16 and plan["pp_layers"] == [3, *[4] * 13, 3, 3]


def _tiny() -> TransformerSpec:
    """h 256, 2 layers of 4 heads of 64 (MHA), SwiGLU 512, vocabulary 1000, untied."""
    fields = load_model("llama3-8b").model_dump() | {
        "name": "tiny", "hidden_size": 256, "num_layers": 2, "num_heads": 4,
        "num_kv_heads": 4, "head_dim": 64, "ffn_hidden_size": 512, "vocab_size": 1000,
    }  # fmt: skip
    return TransformerSpec(**fields)


def test_lora_and_sft_model_flop_by_hand() -> None:
    """N = 2 x (256 x 768 + 256 x 256 + 3 x 256 x 512) + 1000 x 256 = 1,566,720; rank-16
    adapters on qkv (16 x (256 + 768)) and o (16 x (256 + 256)): 49,152 parameters,
    98,304 forward flop a token; attention 12 x 2 x 256 x T."""
    spec, seq = _tiny(), 128
    assert spec.num_matmul_params(active=True) == 1_566_720
    assert model_flop_per_token(spec, seq) == 6 * 1_566_720 + 12 * 2 * 256 * 128
    lora = with_finetune(spec, make_finetune("lora", seq))
    # forward 2N + data gradient 2N, adapters forward, data and weight gradient
    assert model_flop_per_token(lora, seq) == 4 * 1_566_720 + 3 * 98_304 + 786_432
    sft = with_finetune(spec, make_finetune("sft", seq, sft_doc_len=32))
    assert model_flop_per_token(sft, seq) == 6 * 1_566_720 + 12 * 2 * 256 * 32
    setup = TrainSetup(lora, load_chip("h100-sxm"), load_cluster("dgx-h100"), 1, 4, seq)
    result = StepModel(setup).evaluate(ParallelPlan(tp=1, pp=1, dp=1))
    assert result.model_flop_per_step == 7_348_224 * 4 * seq
    assert result.mfu == pytest.approx(
        7_348_224 * 4 * seq / result.step_time_s / setup.chip.peak_flop_per_s("bf16")
    )


def test_cli_lora_mfu_counts_the_frozen_step() -> None:
    """`tigris train --finetune lora`: model flop per token = 4 N + adapters + attention
    (below pre-training's 6 N + attention), exit 0."""
    args = ["train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8"]
    args += ["--global-batch", "64", "--seq-len", "4096", "--tp", "1", "--pp", "1"]
    args += ["--finetune", "lora", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-400:]
    out = json.loads(done.stdout)
    per_token = out["model_flop_per_s_per_chip"] * out["num_chips"] / out["tokens_per_s"]
    spec = load_model("llama3-8b")
    expected = model_flop_per_token(with_finetune(spec, make_finetune("lora", 4096)), 4096)
    assert per_token == pytest.approx(expected, rel=1e-9)
    assert expected < model_flop_per_token(spec, 4096)


def _fp8_ops(scaling: str, gemm: Gemm) -> tuple:
    setup = _setup("llama3-8b", 8, 8, precision=Precision(fp8_scaling=scaling))
    return as_run(setup, (gemm,), "fp8")


@pytest.mark.parametrize(
    ("name", "scales"),
    [
        # forward: 256 x 3 activation tiles of 1 x 128, 3 x 3 weight blocks of 128 x 128
        ("attn.qkv", 256 * 3 + 3 * 3),
        # weight gradient: both operands activations, tiles along K: (256 + 384) x 3
        ("attn.qkv.wgrad", (256 + 384) * 3),
    ],
)
def test_block_scaling_adds_the_promotions_by_hand(name: str, scales: int) -> None:
    """M 256, N 384, K 384 (3 promotions of N_C = 128): block scaling adds one op of
    2 M N K / 128 = 589,824 vector flop reading 4-byte scales; nothing else changes."""
    gemm = make_gemm(name, 256, 384, 384, 1, "bf16", None, "bf16")
    tensor, block = _fp8_ops("tensor", gemm), _fp8_ops("block", gemm)
    assert block[: len(tensor)] == tensor and len(block) == len(tensor) + 1
    (extra,) = block[len(tensor) :]
    assert isinstance(extra, Stream)
    assert extra.flop == 2 * 256 * 384 * 384 / 128 == 589_824
    assert extra.bytes_read == 4 * scales and extra.bytes_written == 0
    chip = load_chip("h100-sxm")
    seconds = [
        sum(get_engine("tile").time(op, chip).time_s for op in ops) for ops in (tensor, block)
    ]
    assert seconds[1] > seconds[0]


def test_cli_fp8_scaling() -> None:
    """--fp8-scaling block: a slower step than tensor scaling (exit 0); without --dtype
    fp8, or an unknown value: exit 2 naming the option in one line."""
    base = ["train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8", "--global-batch"]
    base += ["64", "--seq-len", "4096", "--tp", "1", "--pp", "1"]
    steps = []
    for scaling in ("tensor", "block"):
        done = _tigris(*base, "--dtype", "fp8", "--fp8-scaling", scaling, "--json")
        assert done.returncode == 0, done.stderr[-400:]
        steps.append(json.loads(done.stdout)["step_time_s"])
    assert steps[1] > steps[0]
    for bad in (["--fp8-scaling", "block"], ["--dtype", "fp8", "--fp8-scaling", "blok"]):
        done = _tigris(*base, *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "--fp8-scaling" in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def _tigris(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )
