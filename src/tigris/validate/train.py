"""Published training throughput (train_cluster rows of measured.csv) vs the step model.

Sources and how each row becomes a run:
- Narayanan et al. 2021 (Megatron-LM, SC21), Tables 1 and 2: GPT models on A100 (Selene,
  DGX A100, one 200 Gb/s HDR NIC per GPU). tp, pp, dp (and ZeRO-3 / micro-batch where the
  table gives them) are fixed; full recomputation (their Eq. 3 counts it); micro-batch and
  interleaving left out of the table are chosen by the plan search, as the authors tuned
  them. The metric is their Eq. 3 flop per GPU per second.
- MosaicML llm-foundry benchmarks: MPT models on A100 40/80 GB and H100 with FSDP
  (FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2), the row's micro-batch and activation
  checkpointing (full recomputation); bf16 or fp8. Metric: tokens/s per GPU.
- MaxText on TPU v5e (v5e README): the synthetic `global_parameter_scale` models (MaxText
  pyconfig: base 2048 wide, 16 heads of 128, MLP 7168, 16 layers, vocabulary 32000,
  SwiGLU; each doubling of the scale doubles heads+MLP, then width, then layers), FSDP over
  the 256-chip slice (16 x 16 tensor x FSDP for 128B), data parallel across slices over the
  data-centre network, per-device batch pdbs. Metric: MaxText's TFLOP/s per chip, which is
  the PaLM model flop (attention without causal savings).

The H100 runs hold the clock their 700 W limit allows through seconds of back-to-back
GEMMs, below the boost clock of the short GEMM benchmarks the chip is calibrated on
(tigris.parallel.clock, applied by the step model to every training step).

The A100 40 GB rows run on the a100-sxm-40gb preset (the 80 GB part with 40 GB of HBM2 at
1.555 TB/s, NVIDIA's datasheet). Assumptions stated once: TPU v5e slices join over a data-centre network of 50 Gb/s per chip (the figure of the
v5p preset; v5e's is not in our sourced data). MaxText keeps weights replicated across
slices while this model shards them over every data-parallel rank (ZeRO-3): the traffic
over the data-centre network is of the same order (three shards vs two per step).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import mean

from tigris.errors import InfeasibleError, TigrisError
from tigris.hardware.chip import Calibration
from tigris.hardware.presets import load_chip, load_cluster
from tigris.hardware.system import ScaleOutTier
from tigris.parallel.plan import check_plan
from tigris.parallel.search import enumerate_plans, search_plans
from tigris.parallel.step import StepModel, StepResult, TrainSetup
from tigris.validate.hardware_names import chip_for_hardware, known_chip
from tigris.validate.measured import read_rows, with_progress
from tigris.workload.hf_config import from_hf_config
from tigris.workload.precision import training_precision
from tigris.workload.spec import TransformerSpec

# How each framework ran its step (TrainSetup options; mechanisms documented there).
# Megatron-LM as in Narayanan et al. 2021: attention as two batched GEMMs around the fused
# scale-mask-softmax kernel (FlashAttention came in 2022), attention dropout 0.1 (the GPT-3
# scripts' default), the data-parallel all-reduce issued after the backward (no overlap
# then), PyTorch eager, the loss on the logits cast to fp32 (vocab_parallel_cross_entropy
# of output.float(), --fp16-lm-cross-entropy off by default).
MEGATRON_2021: dict[str, object] = {
    "attention": "fused_softmax",
    "attention_dropout": True,
    "dp_overlap": False,
    "eager": True,
    "loss": "fp32",
}
# llm-foundry (Composer, PyTorch FSDP) in eager mode. Its benchmark script
# (scripts/train/benchmarking/submit_benchmarks.py) defaults to attn_impl=triton: Tri Dao's
# Triton kernel of the FlashAttention (v1) algorithm with ALiBi bias, timed as 'flash1'.
# Its loss defaults to loss_fn=fused_crossentropy (flash-attn's cross-entropy kernel on the
# bf16 logits): the 'fused' loss.
LLM_FOUNDRY: dict[str, object] = {"attention": "flash1", "eager": True}
# Its FSDP mixed_precision (the row's "MP mode"): DEFAULT reduces gradients in fp32, PURE in
# bf16 (composer's get_mixed_precision: reduce_dtype fp32 vs the param dtype); FSDP casts
# and pre-divides the unsharded gradient before each reduce-scatter (TrainSetup option).
FSDP_REDUCE_DTYPE = {"DEFAULT": "fp32", "PURE": "bf16"}
# MaxText: one XLA-compiled step (no per-op host launches), flash attention in Pallas.
MAXTEXT: dict[str, object] = {}
V5E_DCN_UNIDIR_PER_CHIP = 50e9 / 8  # 50 Gb/s, as the tpu-v5p-pod preset's DCN
# MaxText's remat_policy (decoders.py, get_remat_policy) as the device memory sees it.
# 'full': every layer recomputed from its input (the scan carry). 'qkv_proj_offloaded':
# save_and_offload_only_these_names(names_which_can_be_saved=[], names_which_can_be_offloaded=
# [query_proj, key_proj, value_proj], offload_dst="pinned_host"): nothing but the scan carry
# stays in HBM (Q, K, V go to host memory), so HBM holds what 'full' holds; the recompute
# skips the Q/K/V projections (counted here as recomputed: ~4 % of the 128B step's flop
# too many, an error on the slow side). Before, it was read as selective recomputation,
# which keeps every layer's inner tensors in HBM: 71 GB on a 16 GB chip.
MAXTEXT_REMAT = {"full": "full", "qkv_proj_offloaded": "full"}

# Narayanan et al. 2021, Table 2, ZeRO-3 rows: DeepSpeed's ZeRO-3 (integrated into their
# code base) without model parallelism, global batch fixed while GPUs double. The TFLOP/s
# are the paper's measurements; only the "training time for 300B tokens" column is an
# estimate derived from them. The aggregate throughput stays flat when the GPUs double
# (175B: 88 x 768 = 44 x 1536 TFLOP/s, a 67 s step; 530B: 98 x 1120 ~ 48 x 2240): the step
# is bound by ZeRO-3's per-GPU traffic, which does not shrink with dp (each GPU gathers the
# whole model forward and backward and reduce-scatters its gradients: ~1 TB per step for
# 175B in 16-bit, i.e. ~16 GB/s per GPU). NCCL's ring over the 8 HDR NICs of a DGX A100
# node, which tigris.parallel.collectives is validated on, moves it at ~187 GB/s per GPU
# and hides it under compute. The gap is DeepSpeed ZeRO-3's implementation as of 2021
# (per-parameter gathers and their scheduling), not modelled. These rows count in the
# Megatron headline like every other row (tigris.validate.protocol: no row is excluded
# because the model is bad at it); the note says why they miss.
ZERO3_NOTE = "DeepSpeed ZeRO-3 (2021) collectives not modelled"


@dataclass(frozen=True)
class TrainCase:
    row_id: str
    source: str  # "megatron" | "mosaicml" | "maxtext"
    chip_id: str
    system_id: str
    spec: TransformerSpec
    num_chips: int
    global_batch: int
    seq_len: int
    fixed: dict[str, object] = field(hash=False)
    metric: str  # "megatron_flop_per_s_per_chip" | "tokens_per_s_per_chip" | "model_flop_per_s_per_chip"
    measured: float
    framework: dict[str, object] = field(default_factory=dict, hash=False)  # TrainSetup options
    known_gap: str | None = None  # a mechanism the model lacks (see ZERO3_NOTE); still counted


@dataclass(frozen=True)
class TrainResult:
    """A row's prediction. A row the memory model says cannot fit is a memory-model
    failure: no prediction, error -100 % (zero throughput) in every headline; the step
    time of its fastest plan ignoring memory is kept apart in `time_only_*`."""

    case: TrainCase
    predicted: float | None
    error_pct: float | None
    plan: dict[str, object] | None = None
    note: str | None = None
    memory_failure: bool = False
    time_only_predicted: float | None = None
    time_only_error_pct: float | None = None


def gpt_spec(
    name: str, layers: int, hidden: int, heads: int, vocab: int, seq_len: int
) -> TransformerSpec:
    """GPT-3-style model (Brown et al. 2020) as Megatron-LM trains it: the GPT-2 config
    keys that the row gives, read by the same reader as any config.json."""
    config = {
        "model_type": "gpt2",
        "n_embd": hidden,
        "n_layer": layers,
        "n_head": heads,
        "vocab_size": vocab,
        "n_positions": seq_len,
    }
    return from_hf_config(config, name)


def mpt_spec(
    name: str, layers: int, hidden: int, heads: int, ffn: int, vocab: int, seq_len: int
) -> TransformerSpec:
    """MPT (MosaicML): no biases, tied embeddings, ALiBi (written as RoPE: one small
    elementwise op either way), LayerNorm, GELU MLP."""
    return TransformerSpec(
        name=name,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=hidden // heads,
        ffn_hidden_size=ffn,
        vocab_size=vocab,
        max_position_embeddings=seq_len,
        activation="gelu",
        gated_mlp=False,
        norm="layernorm",
        position="rope",
        tie_word_embeddings=True,
    )


def maxtext_spec(scale: int) -> TransformerSpec:
    """MaxText's model for global_parameter_scale = scale (pyconfig.get_individual_scales)."""
    log2 = scale.bit_length() - 1
    base, rem = divmod(log2, 3)
    heads_scale = 2 ** (base + int(rem > 0))
    emb_scale = 2 ** (base + int(rem > 1))
    layer_scale = 2**base
    return TransformerSpec(
        name=f"maxtext-{scale}b",
        hidden_size=2048 * emb_scale,
        num_layers=16 * layer_scale,
        num_heads=16 * heads_scale,
        num_kv_heads=16 * heads_scale,
        head_dim=128,
        ffn_hidden_size=7168 * heads_scale,
        vocab_size=32000,
        max_position_embeddings=2048,
        activation="swiglu",
        gated_mlp=True,
        norm="rmsnorm",
        position="rope",
        tie_word_embeddings=False,
    )


def megatron_eq3_flop(spec: TransformerSpec, batch: int, seq_len: int) -> float:
    """Narayanan et al. 2021 Eq. 3: 96 B s l h^2 (1 + s / (6 h) + V / (16 l h))."""
    b, s, layers = batch, seq_len, spec.num_layers
    h, v = spec.hidden_size, spec.vocab_size
    return 96.0 * b * s * layers * h * h * (1 + s / (6 * h) + v / (16 * layers * h))


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _megatron_case(row: dict[str, str]) -> TrainCase | None:
    if row["metric_name"] != "achieved_tflops_per_gpu":
        return None
    notes = row["notes"]
    seq, layers, hidden, heads = (
        int(row["seq_len"]),
        int(row["layers"]),
        int(row["hidden"]),
        int(row["heads"]),
    )
    spec = gpt_spec(row["model"], layers, hidden, heads, int(row["vocab"]), seq)
    n = int(row["num_chips"])
    fixed: dict[str, object] = {"recompute": "full", "sequence_parallel": False, "cp": 1}
    scheme = re.search(r"scheme=([\w-]+)", notes)
    mp = re.search(r"model-parallel size=(\d+)", notes)
    micro = re.search(r"microbatch=(\d+)", notes)
    known_gap = None
    if scheme and scheme.group(1) == "ZeRO-3":
        tp = int(mp.group(1)) if mp else 1
        fixed |= {"tp": tp, "pp": 1, "dp": n // tp, "zero": 3}
        known_gap = ZERO3_NOTE
    elif scheme:  # PTD-P: model-parallel size t x p, t = 8 (one node)
        size = int(mp.group(1)) if mp else 8
        fixed |= {"tp": 8, "pp": size // 8, "dp": n // size, "zero": 0}
    else:
        fixed |= {"tp": _int(row["tp"]), "pp": _int(row["pp"]), "dp": _int(row["dp"]), "zero": 0}
    if micro:
        fixed["micro_batch"] = int(micro.group(1))
    return TrainCase(
        row_id=row["id"],
        source="megatron",
        chip_id="a100-sxm-80gb",
        system_id="dgx-a100",
        spec=spec,
        num_chips=n,
        global_batch=int(row["global_batch_tokens_or_seqs"].split()[0]),
        seq_len=seq,
        fixed=fixed,
        metric="megatron_flop_per_s_per_chip",
        measured=float(row["metric_value"]) * 1e12,
        framework=MEGATRON_2021,
        known_gap=known_gap,
    )


def _mosaic_case(row: dict[str, str]) -> TrainCase:
    notes, hardware = row["notes"], row["hardware"]
    seq = int(row["seq_len"])
    spec = mpt_spec(
        row["model"],
        int(row["layers"]),
        int(row["hidden"]),
        int(row["heads"]),
        int(row["ffn_hidden"]),
        int(row["vocab"]),
        seq,
    )
    n = int(row["num_chips"])
    sharding = re.search(r"FSDP (\w+)", notes).group(1)
    checkpointing = re.search(r"activation ckpt=(\w+)", notes).group(1) == "True"
    fixed = {
        "tp": 1,
        "pp": 1,
        "cp": 1,
        "dp": n,
        "sequence_parallel": False,
        "micro_batch": int(re.search(r"microbatch=(\d+)", notes).group(1)),
        "zero": 3 if sharding == "FULL_SHARD" else 2,
        "recompute": "full" if checkpointing else "none",
        "dtype": "fp8" if "fp8" in row["precision"] else "bf16",
    }
    chip_id = known_chip(hardware)
    mode = re.search(r"MP mode=(\w+)", notes)
    framework = {
        **LLM_FOUNDRY,
        "grad_reduce_dtype": FSDP_REDUCE_DTYPE[mode.group(1) if mode else "DEFAULT"],
    }
    return TrainCase(
        row_id=row["id"],
        source="mosaicml",
        chip_id=chip_id,
        system_id=load_chip(chip_id).default_system,
        spec=spec,
        num_chips=n,
        global_batch=int(row["global_batch_tokens_or_seqs"].split()[0]),
        seq_len=seq,
        fixed=fixed,
        metric="tokens_per_s_per_chip",
        measured=float(row["metric_value"]),
        framework=framework,
    )


def _maxtext_case(row: dict[str, str]) -> TrainCase | str:
    notes = row["notes"]
    remat = re.search(r"remat=(\w+)", notes).group(1)
    if remat not in MAXTEXT_REMAT:
        return f"remat policy {remat[:40]!r} not modelled (known: {', '.join(MAXTEXT_REMAT)})"
    scale = int(re.search(r"synthetic (\d+)B", row["model"]).group(1))
    spec = maxtext_spec(scale)
    n = int(row["num_chips"])
    pdbs = int(re.search(r"pdbs=(\d+)", notes).group(1))
    tensor = re.search(r"ici_tensor=(\d+)", notes)
    tp = int(tensor.group(1)) if tensor else 1
    fixed = {
        "tp": tp,
        "pp": 1,
        "cp": 1,
        "dp": n // tp,
        "zero": 3,
        "micro_batch": pdbs * tp,
        "virtual_stages": 1,
        "recompute": MAXTEXT_REMAT[remat],
        "sequence_parallel": tp > 1,
    }
    return TrainCase(
        row_id=row["id"],
        source="maxtext",
        chip_id="tpu-v5e",
        system_id="tpu-v5e-pod",
        spec=spec,
        num_chips=n,
        global_batch=pdbs * n,
        seq_len=int(row["seq_len"]),
        fixed=fixed,
        metric="model_flop_per_s_per_chip",
        measured=float(row["metric_value"]) * 1e12,
        framework=MAXTEXT,
    )


# Sources whose rows give the whole layout in the tp/pp/dp/cp/ep columns (MoE rows of
# data/measured-moe.csv) -> the source label; the model by its catalog id.
LAYOUT_SOURCES = {
    "NVIDIA-NeMo/Megatron-Bridge": "megatron-bridge",
    "DeepSeek-AI 2024, DeepSeek-V3": "deepseek-v3-report",
}
# How each layout source ran its MoE exchange (TrainSetup.ep_all_to_all): DeepSeek's own
# cross-node all-to-all kernels (report Sec. 3.2.2, open-sourced as DeepEP); Megatron-
# Bridge's tables do not say which dispatcher ran, so its rows keep NCCL's all-to-all.
LAYOUT_FRAMEWORKS: dict[str, dict[str, object]] = {
    "deepseek-v3-report": {"ep_all_to_all": "deepep"},
}
CATALOG_MODELS = {
    "DeepSeek-V3": "deepseek-v3",
    "gpt-oss-120b": "gpt-oss-120b",
    "Qwen3-30B-A3B": "qwen3-30b-a3b",
    "Qwen3-235B-A22B": "qwen3-235b-a22b",
}


def _layout_case(row: dict[str, str], label: str) -> TrainCase | str:
    """A run whose layout (tp, pp, dp, cp, ep) is published: those fixed, the micro-batch,
    virtual stages and pipeline schedule when the notes give them; recomputation, ZeRO
    stage and sequence parallelism (not published) are chosen by the plan search. A
    current framework (TrainSetup defaults: FlashAttention-2, overlapped gradient
    reduction, no eager launches, LAYOUT_FRAMEWORKS's ep exchange). FP8 rows run fp8
    GEMMs, with block scales when the precision says fine-grained."""
    from tigris.workload.presets import load_model

    model_id = CATALOG_MODELS.get(row["model"])
    chip_id = chip_for_hardware(row["hardware"])
    if model_id is None or chip_id is None:
        missing = row["model"] if model_id is None else row["hardware"]
        return f"no catalog entry for {missing[:40]!r}"
    fixed: dict[str, object] = {key: int(row[key]) for key in ("tp", "pp", "dp", "cp", "ep")}
    micro = re.search(r"microbatch=(\d+)", row["notes"])
    if micro:
        fixed["micro_batch"] = int(micro.group(1))
    fixed["dtype"] = "fp8" if "fp8" in row["precision"].lower() else "bf16"
    framework = dict(LAYOUT_FRAMEWORKS.get(label, {}))
    fixed.update(_stated_schedule(row["notes"]))
    if "fine-grained" in row["precision"]:  # DeepSeek-V3's 1x128 / 128x128 FP8 scales
        framework["precision"] = training_precision("block", "fp8")
    return TrainCase(
        row_id=row["id"],
        source=label,
        chip_id=chip_id,
        system_id=load_chip(chip_id).default_system,
        spec=load_model(model_id),
        num_chips=int(row["num_chips"]),
        global_batch=int(row["global_batch_tokens_or_seqs"].split()[0]),
        seq_len=int(row["seq_len"]),
        fixed=fixed,
        metric="tokens_per_s_per_chip",
        measured=float(row["metric_value"]),
        framework=framework,
    )


def _stated_schedule(notes: str) -> dict[str, object]:
    """The pipeline schedule a layout row's notes state: DualPipe when named, the
    virtual stages of an interleaved one ('vp=N', Megatron-Bridge's VP column)."""
    fixed: dict[str, object] = {"pp_schedule": "dualpipe"} if "DualPipe" in notes else {}
    virtual = re.search(r"\bvp=(\d+)", notes)
    if virtual:
        fixed["virtual_stages"] = int(virtual.group(1))
    return fixed


def train_case_or_reason(row: dict[str, str]) -> TrainCase | str:
    """The row's case, or why it is not scored (tigris.validate.protocol.map_rows)."""
    if row["source"].startswith("Narayanan"):
        case = _megatron_case(row)
        return case or f"metric {row['metric_name'][:40]!r} not scored (an aggregate of a row)"
    if row["source"].startswith("mosaicml"):
        return _mosaic_case(row)
    if row["source"].startswith("AI-Hypercomputer/maxtext"):
        return _maxtext_case(row)
    for prefix, label in LAYOUT_SOURCES.items():
        if row["source"].startswith(prefix):
            return _layout_case(row, label)
    return (
        f"source not recognised: {row['source'][:40]!r} "
        "(train rows are read as Megatron-LM, llm-foundry or MaxText rows)"
    )


@lru_cache(maxsize=1)
def load_train_cases() -> tuple[TrainCase, ...]:
    cases = []
    for row in read_rows(("train_cluster",)):
        case = train_case_or_reason(row)
        if not isinstance(case, str) and case is not None:
            cases.append(case)
    return tuple(cases)


def setup_for(case: TrainCase, calibration: Calibration | None = None) -> TrainSetup:
    chip = load_chip(case.chip_id)
    if calibration is not None:
        chip = chip.model_copy(update={"calibration": calibration})
    cluster = load_cluster(case.system_id)
    if not cluster.scale_out and case.num_chips > cluster.node.scale_up.num_chips:
        dcn = ScaleOutTier(
            name="data-centre network between slices (assumed 50 Gb/s per chip)",
            topology="ethernet_clos",
            bandwidth_unidir_per_chip=V5E_DCN_UNIDIR_PER_CHIP,
            latency=10e-6,
        )
        cluster = cluster.model_copy(update={"scale_out": [dcn]})
    return TrainSetup(
        case.spec,
        chip,
        cluster,
        case.num_chips,
        case.global_batch,
        case.seq_len,
        **case.framework,  # type: ignore[arg-type]
    )


def _fastest_ignoring_memory(setup: TrainSetup, fixed: dict[str, object]) -> StepResult:
    model = StepModel(setup)
    best = None
    for plan in enumerate_plans(setup, fixed):
        try:
            check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
        except TigrisError:
            continue
        result = model.evaluate(plan, checked=True)
        if best is None or result.step_time_s < best.step_time_s:
            best = result
    if best is None:
        raise InfeasibleError("no valid plan")
    return best


def metric_of(case: TrainCase, result: StepResult) -> float:
    if case.metric == "tokens_per_s_per_chip":
        return result.tokens_per_s / case.num_chips
    if case.metric == "megatron_flop_per_s_per_chip":
        flop = megatron_eq3_flop(case.spec, case.global_batch, case.seq_len)
        return flop / result.step_time_s / case.num_chips
    return result.model_flop_per_s_per_chip


def evaluate_case(case: TrainCase, calibration: Calibration | None = None) -> TrainResult:
    """The row's prediction with its chip's calibration (or `calibration`, for a
    held-out score)."""
    setup = setup_for(case, calibration)
    gap = f"known gap: {case.known_gap}" if case.known_gap else None
    try:
        result = search_plans(setup, case.fixed, top_k=1).best
    except InfeasibleError as error:
        return _memory_failure(case, setup, f"memory model: {error}", gap)
    predicted = metric_of(case, result)
    error_pct = (predicted - case.measured) / case.measured * 100.0
    return TrainResult(case, predicted, error_pct, result.plan.as_dict(), gap)


def _memory_failure(case: TrainCase, setup: TrainSetup, why: str, gap: str | None) -> TrainResult:
    """A row that ran but that the memory model rejects: counted as a failure, with the
    time of its fastest plan ignoring memory shown apart."""
    note = f"{why}; {gap}" if gap else why
    try:
        result = _fastest_ignoring_memory(setup, case.fixed)
    except TigrisError as inner:
        return TrainResult(case, None, -100.0, note=f"{note}; {inner}", memory_failure=True)
    time_only = metric_of(case, result)
    time_error = (time_only - case.measured) / case.measured * 100.0
    return TrainResult(case, None, -100.0, result.plan.as_dict(), note, True, time_only, time_error)


def validate_train(
    sources: tuple[str, ...] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[TrainResult]:
    """The train rows (of `sources`), predicted; `progress(done, total)` hears of rows done."""
    cases = [case for case in load_train_cases() if sources is None or case.source in sources]
    return [evaluate_case(case) for case in with_progress(cases, progress)]


def summary_keys(case: TrainCase) -> tuple[str, ...]:
    """The summary groups a row counts in: its source, and its source and chip."""
    return (case.source, f"{case.source} {case.chip_id}")


def summarize_train(results: list[TrainResult]) -> dict[str, tuple[int, float, float, float]]:
    """Per source (and per source and chip): rows, mean |error| %, max |error| %, mean
    signed error %. Every row counts, memory-model failures at -100 %."""
    groups: dict[str, list[float]] = {}
    for result in results:
        if result.error_pct is None:
            continue
        for key in summary_keys(result.case):
            groups.setdefault(key, []).append(result.error_pct)
    return {
        key: (len(errors), mean(abs(e) for e in errors), max(abs(e) for e in errors), mean(errors))
        for key, errors in sorted(groups.items())
    }
