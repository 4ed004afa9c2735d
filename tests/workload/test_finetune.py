"""Fine-tuning steps (issue 16 item 2): LoRA's frozen base and adapters, SFT's packed
attention, and `tigris train --finetune` (options checked in a subprocess; `full` prints
exactly what no option prints)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tigris.workload.finetune import FineTune, make_finetune, with_finetune
from tigris.workload.graph import OpGraph
from tigris.workload.ops import Attention, Gemm
from tigris.workload.spec import TransformerSpec
from tigris.workload.tasks import train_step_graph

BASE: dict[str, Any] = {
    "name": "tiny",
    "hidden_size": 64,
    "num_layers": 3,
    "num_heads": 4,
    "num_kv_heads": 2,
    "head_dim": 16,
    "ffn_hidden_size": 96,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "activation": "swiglu",
    "gated_mlp": True,
    "norm": "rmsnorm",
    "position": "rope",
    "tie_word_embeddings": False,
}
ALL = ("q", "k", "v", "o", "gate", "up", "down")


def tiny() -> TransformerSpec:
    return TransformerSpec(**BASE)


def lora(rank: int, targets: tuple[str, ...] = ALL) -> TransformerSpec:
    return with_finetune(tiny(), FineTune(mode="lora", lora_rank=rank, lora_targets=targets))


def gemm_flop(graph: OpGraph, *, adapters: bool | None = None) -> float:
    return sum(
        group.count * op.flop
        for group in graph.groups
        for op in group.ops
        if isinstance(op, Gemm) and (adapters is None or (".lora_" in op.name) == adapters)
    )


def test_lora_without_adapter_cost_is_forward_and_data_gradient() -> None:
    """Frozen weights: no weight-gradient GEMM, so the base GEMMs are 4 N T of full's 6 N T;
    the adapters' own flop vanish with the rank."""
    full = gemm_flop(train_step_graph(tiny(), 2, 32))
    step = train_step_graph(lora(1), 2, 32)
    base = gemm_flop(step, adapters=False)
    assert base / full == pytest.approx(2 / 3, rel=1e-12)
    assert gemm_flop(step, adapters=True) / full < 0.03
    wider = train_step_graph(lora(8), 2, 32)
    assert gemm_flop(wider, adapters=True) == pytest.approx(8 * gemm_flop(step, adapters=True))


def test_frozen_gemms_have_no_weight_gradient() -> None:
    names = {op.name for group in train_step_graph(lora(4), 1, 16).groups for op in group.ops}
    wgrads = {name for name in names if name.endswith(".wgrad")}
    assert wgrads and all(".lora_" in name for name in wgrads)
    assert "attn.qkv.dgrad" in names and "head.logits.dgrad" in names
    assert "attn.qkv.q.lora_a.wgrad" in names and "mlp.down.down.lora_b.dgrad" in names


def test_lora_trainable_params_closed_form() -> None:
    """Sum over the targets of r (in + out) per layer, and the optimizer updates just those."""
    s, r = tiny(), 8
    h, q, kv, f = s.hidden_size, s.q_size, s.kv_size, s.ffn_hidden_size
    per_layer = r * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + f) + (f + h))
    graph = train_step_graph(lora(r), 1, 16)
    optimizer = [g for g in graph.groups if g.phase == "optimizer"]
    elements = sum(g.count * op.num_elements for g in optimizer for op in g.ops)
    assert elements == s.num_layers * per_layer
    fused = train_step_graph(lora(r, ("qkv", "o")), 1, 16)
    fused_elements = sum(
        g.count * op.num_elements for g in fused.groups if g.phase == "optimizer" for op in g.ops
    )
    assert fused_elements == s.num_layers * r * ((h + q + 2 * kv) + (q + h))


def test_sft_packs_documents_into_chunked_attention() -> None:
    seq = 64
    packed = with_finetune(tiny(), make_finetune("sft", seq, sft_doc_len=16))
    attention = [
        op
        for group in train_step_graph(packed, 1, seq).groups
        if group.phase == "fwd"
        for op in group.ops
        if isinstance(op, Attention)
    ]
    assert attention and all(op.window == 16 and op.window_mode == "chunked" for op in attention)
    whole = with_finetune(tiny(), make_finetune("sft", seq))
    assert train_step_graph(whole, 1, seq) == train_step_graph(tiny(), 1, seq)
    assert gemm_flop(train_step_graph(packed, 1, seq)) == gemm_flop(
        train_step_graph(tiny(), 1, seq)
    )


def test_full_is_the_very_spec() -> None:
    spec = tiny()
    assert with_finetune(spec, make_finetune("full", 16)) is spec


# ---- the CLI ------------------------------------------------------------------------------

TRAIN = ("train", "gpt-j-6b", "--chip", "h100-sxm", "--num-chips", "2", "--global-batch", "4",
         "--seq-len", "512", "--tp", "2", "--pp", "1", "--dp", "1", "--micro-batch", "2")  # fmt: skip


def run_train(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *TRAIN, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (("--finetune", "qlora"), "--finetune"),
        (("--finetune", "lora", "--lora-rank", "0"), "--lora-rank"),
        (("--finetune", "lora", "--lora-targets", "q,x"), "--lora-targets"),
        (("--finetune", "lora", "--lora-targets", "q,q"), "--lora-targets"),
        (("--finetune", "lora", "--lora-targets", "qkv,q"), "--lora-targets"),
        (("--lora-rank", "8"), "--lora-rank"),
        (("--finetune", "sft", "--sft-doc-len", "4096"), "--sft-doc-len"),
        (("--finetune", "lora", "--sft-doc-len", "16"), "--sft-doc-len"),
        (("--finetune", "lora", "--zero", "3"), "--zero"),
        (("--finetune", "lora", "--lora-targets", "gate"), "--lora-targets"),  # gpt-j: no gate
    ],
)
def test_bad_finetune_options_are_one_line_errors(extra: tuple[str, ...], option: str) -> None:
    result = run_train(*extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2, result.stderr
    assert option in result.stderr


def test_finetune_full_prints_what_no_option_prints() -> None:
    plain, full = run_train("--json"), run_train("--json", "--finetune", "full")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(full.stdout) == json.loads(plain.stdout)
    tuned = run_train("--json", "--finetune", "lora", "--lora-rank", "8")
    assert tuned.returncode == 0, tuned.stderr
    data = json.loads(tuned.stdout)
    assert data["finetune"]["lora_rank"] == 8
    assert data["step_time_s"] < json.loads(plain.stdout)["step_time_s"]
    assert data["memory"]["total_bytes"] < json.loads(plain.stdout)["memory"]["total_bytes"]
