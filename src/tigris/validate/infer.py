"""Predicted vs measured for the inference rows of measured.csv (infer_chip, infer_cluster).

Each row is re-run by the mechanism it measured, with no per-row constant:
- TensorRT-LLM performance tables (gptSessionBenchmark, static batching): `infer` with
  the row's batch, ISL/OSL and tp; FP8 rows run fp8 GEMMs, weights and KV cache, with
  bf16 activations between the GEMMs (serving.deployment.activation_dtype).
  Throughput rows are output tokens/s per GPU; TTFT rows are the batch-1 prefill. That
  release (v0.6.1) decoded with the masked multi-head attention kernel, which reads K and
  V once per query head (XQA, sharing reads across a GQA group, came in v0.7):
  `grouped_kv_reads=False`.
- LLMCompass (ISCA 2024, Fig. 5): per-operator latencies of one GPT-3 175B layer, tp 4 on
  A100, each op timed alone from the host (launch, run, synchronize). Attention there is
  not fused: QK^T and AV are batched GEMMs and softmax a separate kernel over the score
  matrix. All-reduces use tigris.parallel.collectives on the DGX A100 system. The host
  path differs by op, as the harness calls them (LLMCompass software_model/*.py): GEMMs
  through torch.matmul (cuBLAS; the chip's fitted host_overhead), softmax as an eager
  torch.softmax, LayerNorm and GeLU as @torch.compile'd functions, whose every call
  passes TorchDynamo's guards and Inductor's wrapper before the Triton launch (~33 us end
  to end against ~1.3 us for a bare cuLaunchKernel: meta-pytorch/tritonbench PR #1017).
  The host cost of the eager and compiled paths is read from the same harness's op sweeps
  (Fig. 5c-g rows of measured.csv, category memory_bw: softmax, layernorm, gelu): the
  smallest size of each sweep, less the engine's device time for it.
- MLPerf Inference v4.0/v4.1 Llama-2-70B (OpenOrca): the serving simulator, fp8 GEMMs
  (bf16 activations between them) with fp8 weights and KV cache (B200: fp4 GEMMs and
  weights), one replica per tp group. The tp and in-flight batch are the submitter's
  where its harness config is published (MLPERF_LAYOUTS); elsewhere the tp (1, 2, 4 or 8)
  that gives the highest offline throughput. NVIDIA's TensorRT-LLM harness gives the KV
  cache 0.9 of the memory left free by weights and activations, 16384-token steps and
  the custom all-reduce (MLPERF_TRTLLM_SETTINGS); AMD's vLLM, 0.9 of the total. 4-GPU H100 boards (HGX H100 4-GPU) join
  their GPUs pairwise (6 NVLinks per pair), not through NVSwitch. Offline: all requests at once.
  Server: the highest Poisson rate meeting p99 TTFT <= 2 s and TPOT <= 200 ms, times the
  mean output length. Output length per request is the row's tokens/s over samples/s;
  prompts have MLPERF_MEAN_INPUT_TOKENS tokens on average; lengths uniform around the means.
Rows on hardware without a preset (L40S, H100 NVL, GH200) or models without a spec are
reported as skipped, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from math import ceil
from statistics import mean

from tigris.errors import TigrisError
from tigris.hardware.presets import load_cluster
from tigris.hardware.stacks import StackProfile
from tigris.serving.deployment import Deployment
from tigris.validate.calibrate import held_out_chip
from tigris.validate.hardware_names import chip_for_hardware
from tigris.validate.infer_llmcompass import (  # noqa: F401  (re-exported: tests, bench)
    LLMCOMPASS_HOST_ROWS,
    _llmcompass_host_s,
    _predict_llmcompass,
    llmcompass_host_paths,
)
from tigris.validate.infer_moe import is_disagg_ep_row, predict_disagg_ep_row
from tigris.validate.infer_tpu import (
    NotModelled,
    is_throughput_row,
    predict_throughput_row,
    throughput_family,
)
from tigris.validate.measured import read_rows, with_progress
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.spec import TransformerSpec

CATEGORIES = ("infer_chip", "infer_cluster")


# MLPerf Llama-2-70B uses 24,576 OpenOrca (GPT-4 part) samples, prompts and reference
# answers each cut at 1,024 tokens (mlcommons/inference language/llama2-70b/README.md:
# `processorca.py --seqlen_limit=1024 --num_total_samples=24576`). The only length
# statistic MLCommons publishes is of the OUTPUT: "Tokens per sample: 294.45", the
# generation-length accuracy target (same README, "Accuracy Target"; inference_policies
# inference_rules.adoc: tokens_per_sample=294.45). No published mean prompt length was
# found (README, MLCommons' Llama 2 70B post, AMD/NVIDIA v4.1 write-ups): 294 is kept as
# the prompt mean, an assumption of the same size as the published output mean, not a
# dataset statistic. The output length per row is measured (tokens/s over samples/s).
MLPERF_MEAN_INPUT_TOKENS = 294
# Run length by MLPerf LoadGen's rules (mlcommons/inference loadgen/mlperf.conf, as used
# in v4.x): every scenario runs at least 600 s (`*.Offline.min_duration = 600000`,
# `*.Server.min_duration = 600000`); Offline issues at least 24,576 samples
# (`llama2-70b.Offline.min_query_count = 24576`, the whole performance set), Server at
# least LoadGen's default 100 queries; samples are drawn from the 24,576-sample set in
# whole passes (`sample_concatenate_permutation = 1`). Near capacity a Poisson queue
# grows with the run's length, so a short run overstates the server result.
MLPERF_DATASET_SAMPLES = 24576
MLPERF_MIN_DURATION_S = 600.0
MLPERF_OFFLINE_MIN_QUERIES = 24576
MLPERF_SERVER_MIN_QUERIES = 100
# Power limit a submission sets below the chip's TDP (W), by MLPerf system name: NVIDIA's
# MaxQ (power-measured) H200 system runs its GPUs at 500 W (H200_SXM_141GBx8_MaxQ,
# power_limit = 500, github.com/mlcommons/inference_results_v4.1/blob/main/closed/NVIDIA/
# configs/llama2-70b/Offline/__init__.py). Every other system runs at its chip's TDP.
MLPERF_POWER_LIMIT_W = {"H200-SXM-141GBx8_TRT_MaxQ": 500.0}
MLPERF_TP_CHOICES = (1, 2, 4, 8)
# Submitters size the in-flight batch to the KV cache (TensorRT-LLM max_batch_size in the
# hundreds to thousands), not to vLLM's default of 256 sequences.
MLPERF_MAX_NUM_SEQS = 2048
# NVIDIA's harness (TensorRT-LLM, used by every TRT submission of these rows) sizes the KV
# cache as TensorRT-LLM does, a share of the memory FREE once the weights and the engine's
# activation buffers are allocated: kvcache_free_gpu_mem_frac = 0.90 in the llama2-70b
# Offline and Server base configs of v4.0 and v4.1 (mlcommons/inference_results_v4.x
# closed/NVIDIA/configs/llama2-70b/{Offline,Server}/__init__.py). Its engines are built
# with max_num_tokens 16384 (the step's token budget; closed/NVIDIA/code/llama2-70b/
# tensorrt/builder.py in v4.0: `max_num_tokens: int = 16384`; the v4.0/v4.1 Offline and
# Server configs set no other; v4.1's builder and the parent config were not found, so
# v4.0's values are assumed) and `--use_custom_all_reduce=enable` (same file). AMD's vLLM
# harness keeps vLLM's rule (gpu_memory_utilization 0.9 of the total): the Deployment's
# defaults.
MLPERF_TRTLLM_SETTINGS: dict[str, object] = {
    "memory_utilization": 0.9,
    "memory_utilization_of": "free",
    "token_budget": 16384,
    "all_reduce": "custom",
}
# The submitter's layout where its harness config is published: (tensor_parallelism,
# gpu_batch_size = TensorRT-LLM's max in-flight batch per engine) by (chip, scenario).
# NVIDIA's harness (mlcommons/inference_results_v4.1 closed/NVIDIA/configs/llama2-70b/
# {Offline,Server}/__init__.py; v4.0 the same for Offline): H100-SXM tp 2 (the base
# config's tensor_parallelism) with 896 (Offline) / 1024 (Server); H200 tp 1 with 806 /
# 896; H200 CTS tp 1, 850 on one GPU, 784 / 1024 on eight. Partners on these GPUs run
# NVIDIA's harness with the same values (e.g. closed/ASUSTeK/configs/llama2-70b/*/custom.py:
# ESC_N8_E11_H100x8 896 / 1024, tp inherited). The 8x H100 PCIe server: tp 2 (inherited),
# 896 in both scenarios (ASUSTeK ESC8000A_E12_H100X8). H100 NVL (v4.1 configs above:
# H100_NVL_94GB_TP2x1/x2/x4, which partners' NVL systems inherit): tp 2, 1300 (Offline) /
# 640 (Server); GH200 144GB: tp 1, 806 in both. AMD's MI300X runs vLLM at TP=1 with
# DP=8 (closed/AMD/code/llama2-70b-99.9/test_VllmFp8/*.sh: TP=1, DP=${DP:-8}); its
# max_num_seqs is not in the published scripts, so MLPERF_MAX_NUM_SEQS stays.
MLPERF_LAYOUTS: dict[tuple[str, str], tuple[int, int]] = {
    ("h100-sxm", "Offline"): (2, 896),
    ("h100-sxm", "Server"): (2, 1024),
    ("h100-pcie", "Offline"): (2, 896),
    ("h100-pcie", "Server"): (2, 896),
    ("h200-sxm", "Offline"): (1, 806),
    ("h200-sxm", "Server"): (1, 896),
    ("h200-sxm-cts-x1", "Offline"): (1, 850),
    ("h200-sxm-cts-x1", "Server"): (1, 850),
    ("h200-sxm-cts", "Offline"): (1, 784),
    ("h200-sxm-cts", "Server"): (1, 1024),
    ("h100-nvl", "Offline"): (2, 1300),
    ("h100-nvl", "Server"): (2, 640),
    ("gh200", "Offline"): (1, 806),
    ("gh200", "Server"): (1, 806),
    ("mi300x", "Offline"): (1, MLPERF_MAX_NUM_SEQS),
    ("mi300x", "Server"): (1, MLPERF_MAX_NUM_SEQS),
}
# B200's v4.1 (preview) submission ran Llama-2-70B in FP4 on the fifth-generation Tensor
# Cores, where Hopper runs FP8 (Tom's Hardware, 28 Aug 2024, "Nvidia publishes first
# Blackwell B200 MLPerf results ... when using FP4"); the KV cache stays fp8.
MLPERF_FP4_CHIPS = ("b200",)
# 4-GPU H100 SXM boards (Dell XE8640/XE9640, Fujitsu GX2560M7) have no NVSwitch: their
# GPUs pair over 6 NVLinks each (system preset hgx-h100-4gpu).
HGX4_SYSTEM = "hgx-h100-4gpu"


@dataclass(frozen=True)
class InferRow:
    row_id: str
    source: str  # source family: "TensorRT-LLM", "LLMCompass", "MLPerf Inference v4.1" ...
    category: str
    hardware: str
    metric: str
    measured: float  # SI units: seconds or tokens/s
    predicted: float | None
    error_pct: float | None
    skipped: str | None = None
    stack: str | None = None  # the software stack the row ran (stack_fit.row_stack)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def source_family(row: dict[str, str]) -> str:
    source = row["source"]
    if throughput_family(row):
        return throughput_family(row)  # type: ignore[return-value]
    if source.startswith("NVIDIA/TensorRT-LLM"):
        return "TensorRT-LLM"
    if is_disagg_ep_row(row):
        return "SGLang"
    if "LLMCompass" in source:
        return "LLMCompass"
    found = re.search(r"MLPerf Inference (v[\d.]+)", source)
    return f"MLPerf Inference {found.group(1)}" if found else source


def _model(name: str) -> TransformerSpec | None:
    return {
        "GPT-J 6B": load_model("gpt-j-6b"),
        "LLaMA 7B": load_model("llama2-7b"),
        "LLaMA 70B": load_model("llama2-70b"),
        "Falcon 180B": load_model("falcon-180b"),
        "Mixtral 8x7B": load_model("mixtral-8x7b"),
    }.get(name)


def _precision(text: str) -> Precision:
    dtype = {"FP8": "fp8", "FP16": "fp16", "fp16": "fp16"}[text]
    return Precision(compute_dtype=dtype, weight_dtype=dtype, kv_cache_dtype=dtype)


# ---------------------------------------------------------------------------- TensorRT-LLM


def _predict_trtllm(row: dict[str, str], chip_id: str, uncalibrated: bool = False) -> float:
    from tigris.serving.static_batch import infer

    spec = _model(row["model"])
    if spec is None:
        raise _Skip(f"no spec for {row['model']}")
    from tigris.hardware.stacks import load_stack
    from tigris.validate.stack_fit import row_stack

    stack = load_stack(row_stack(row))  # the table's release (trtllm-v0.6, trtllm-v0.9)
    chip = stack.apply_to_chip(held_out_chip(chip_id, "chip" if uncalibrated else None))
    tp = int(row["tp"] or 1)
    deployment = Deployment(
        spec,
        chip,
        num_chips=tp,
        tp=tp,
        precision=_precision(row["precision"]),
        **stack.deployment_settings(),  # type: ignore[arg-type]
    )
    batch = int(row["global_batch_tokens_or_seqs"].split()[1])
    lengths = [int(x) for x in re.findall(r"\d+", row["seq_len"])]
    if row["metric_name"] == "first_token_latency":
        return infer(deployment, batch, lengths[0], 1).ttft_s
    result = infer(deployment, batch, lengths[0], lengths[1])
    return result.throughput_tokens_per_s / tp


# ---------------------------------------------------------------------------- MLPerf


def _mlperf_output_tokens(row: dict[str, str]) -> int:
    samples = float(re.search(r"samples/s=([\d.]+)", row["notes"]).group(1))  # type: ignore[union-attr]
    return max(1, round(float(row["metric_value"]) / samples))


@lru_cache(maxsize=64)
def _mlperf_workload(output_tokens: int):
    from tigris.serving.requests import synthetic_workload

    return synthetic_workload(
        MLPERF_DATASET_SAMPLES,
        MLPERF_MEAN_INPUT_TOKENS,
        output_tokens,
        rate_per_s=None,
        seed=0,
        length_dist="uniform",
    )


def _power_capped_timer(deployment: Deployment, limit_w: float | None):
    """A StepTimer whose ops run under the submission's power cap (MaxQ), each at the
    clock the cap allows it (the one cap rule: tigris.parallel.clock, terms from
    tigris.cost.power_scope.apply_power_cap); without a cap, at the boost clock as
    `tigris infer` runs them."""
    from dataclasses import replace

    from tigris.cost.power_scope import apply_power_cap
    from tigris.serving.step_time import StepTimer

    chip = apply_power_cap(deployment.chip, limit_w)
    return StepTimer(replace(deployment, chip=chip) if chip is not deployment.chip else deployment)


@dataclass(frozen=True)
class _MlperfSystem:
    """How a submission ran: the chip, its count, the power limit, the submitter's
    layout key (MLPERF_LAYOUTS) and whether its GPUs pair up over a 4-GPU board."""

    chip_id: str
    num_chips: int
    limit_w: float | None = None
    layout: str | None = None
    hgx4: bool = False
    uncalibrated: bool = False  # a held-out chip: no fitted calibration
    stack: StackProfile | None = None  # the submission's stack (tigris.hardware.stacks)
    trtllm: bool = False  # NVIDIA's TensorRT-LLM harness (MLPERF_TRTLLM_SETTINGS)


def _mlperf_precision(chip_id: str) -> Precision:
    if chip_id in MLPERF_FP4_CHIPS:
        return Precision(compute_dtype="fp4", weight_dtype="fp4", kv_cache_dtype="fp8")
    return _precision("FP8")


def _mlperf_deployment(system: _MlperfSystem, tp: int, max_seqs: int) -> Deployment:
    chip = held_out_chip(system.chip_id, "chip" if system.uncalibrated else None)
    stack = system.stack
    if stack is not None:  # the stack's kernel efficiencies
        chip = stack.apply_to_chip(chip)
    return Deployment(
        load_model("llama2-70b"),
        chip,
        num_chips=tp,
        tp=tp,
        precision=_mlperf_precision(system.chip_id),
        max_num_seqs=max_seqs,
        cluster=load_cluster(HGX4_SYSTEM) if system.hgx4 else None,
        **_mlperf_settings(system),
    )


def _mlperf_settings(system: _MlperfSystem) -> dict[str, object]:
    """The harness's engine settings (MLPERF_TRTLLM_SETTINGS for NVIDIA's), then the
    stack's (which win where both set one)."""
    settings = dict(MLPERF_TRTLLM_SETTINGS) if system.trtllm else {}
    if system.stack is not None:
        settings |= system.stack.deployment_settings()
    return settings


def _mlperf_layouts(system: _MlperfSystem, scenario: str) -> list[tuple[int, int]]:
    """(tp, max in-flight batch) to try: the submitter's, else every tp that divides the
    system at MLPERF_MAX_NUM_SEQS."""
    if system.layout is not None and (system.layout, scenario) in MLPERF_LAYOUTS:
        return [MLPERF_LAYOUTS[(system.layout, scenario)]]
    return [(tp, MLPERF_MAX_NUM_SEQS) for tp in MLPERF_TP_CHOICES if system.num_chips % tp == 0]


@lru_cache(maxsize=64)
def _mlperf_best_tp(system: _MlperfSystem, output_tokens: int) -> tuple[int, float, dict]:
    """(tp, offline tokens/s of all chips, one replica's offline summary) for the
    submitter's layout, or the tp with the highest throughput. Each replica (tp chips)
    takes its share of the Offline query's samples and runs at least
    MLPERF_MIN_DURATION_S."""
    from tigris.serving.scenario import run_offline

    best: tuple[int, float, dict] = (0, 0.0, {})
    for tp, max_seqs in _mlperf_layouts(system, "Offline"):
        try:
            deployment = _mlperf_deployment(system, tp, max_seqs)
            timer = _power_capped_timer(deployment, system.limit_w)
            result = run_offline(
                deployment,
                _mlperf_workload(output_tokens),
                timer=timer,
                min_duration_s=MLPERF_MIN_DURATION_S,
                min_queries=ceil(MLPERF_OFFLINE_MIN_QUERIES * tp / system.num_chips),
            )
        except TigrisError:
            continue
        total = float(result["throughput_tokens_per_s"]) * system.num_chips / tp  # type: ignore[arg-type]
        if total > best[1]:
            best = (tp, total, result)
    if best[0] == 0:
        raise _Skip("Llama-2-70B fits no tp layout")
    return best


@lru_cache(maxsize=64)
def _mlperf_server(system: _MlperfSystem, output_tokens: int) -> float:
    from tigris.serving.scenario import run_server

    tp, _, offline = _mlperf_best_tp(system, output_tokens)
    max_seqs = next(m for t, m in _mlperf_layouts(system, "Server") if t == tp)
    deployment = _mlperf_deployment(system, tp, max_seqs)
    timer = _power_capped_timer(deployment, system.limit_w)
    result = run_server(
        deployment,
        _mlperf_workload(output_tokens),
        timer=timer,
        min_duration_s=MLPERF_MIN_DURATION_S,
        min_queries=MLPERF_SERVER_MIN_QUERIES,
        offline=offline,
    )
    return float(result["max_rate_tokens_per_s"]) * system.num_chips / tp  # type: ignore[arg-type]


def _mlperf_system(
    row: dict[str, str], chip_id: str, uncalibrated: bool = False, stack: StackProfile | None = None
) -> _MlperfSystem:
    from tigris.validate.stack_fit import row_stack

    num_chips = int(row["num_chips"])
    found = re.search(r"system=([^;]+)", row["notes"])
    name = found.group(1).strip() if found else ""
    single = f"{chip_id}-x1"  # a layout published for one GPU of the chip
    layout = single if num_chips == 1 and (single, "Offline") in MLPERF_LAYOUTS else chip_id
    return _MlperfSystem(
        chip_id=chip_id,
        num_chips=num_chips,
        limit_w=MLPERF_POWER_LIMIT_W.get(name),
        layout=layout,
        hgx4=chip_id == "h100-sxm" and num_chips == 4,
        uncalibrated=uncalibrated,
        stack=stack,
        trtllm=row_stack(row) == "trtllm",
    )


def _predict_mlperf(
    row: dict[str, str], chip_id: str, uncalibrated: bool = False, stack: StackProfile | None = None
) -> float:
    if "Llama 2 70B" not in row["model"]:
        # the harness above is llama2-70b's (OpenOrca lengths, 24,576 samples, 600 s runs)
        raise _Skip(f"MLPerf benchmark not modelled: {row['model'][:40]!r} (llama2-70b only)")
    system = _mlperf_system(row, chip_id, uncalibrated, stack)
    output_tokens = _mlperf_output_tokens(row)
    if row["metric_name"] == "tokens_per_s":
        return _mlperf_best_tp(system, output_tokens)[1]
    return _mlperf_server(system, output_tokens)


# ---------------------------------------------------------------------------- rows


class _Skip(Exception):
    pass


def _measured_si(row: dict[str, str]) -> float:
    value = float(row["metric_value"])
    return value * 1e-3 if row["metric_unit"] == "ms" else value


def evaluate_row(
    row: dict[str, str], held_out: str | None = None, stack: StackProfile | None = None
) -> InferRow:
    """The row predicted in-sample (held_out None) or held out by "source" or "chip"
    (tigris.validate.protocol): no measured value of the left-out group feeds it.
    `stack` replaces the row's own stack profile (the stack fitter's trials)."""
    from tigris.validate.stack_fit import row_profile, row_stack

    family = source_family(row)
    measured = _measured_si(row)
    common = {
        "row_id": row["id"],
        "source": family,
        "category": row["category"],
        "hardware": row["hardware"],
        "metric": row["metric_name"],
        "measured": measured,
        "stack": row_stack(row),
    }
    chip_id = chip_for_hardware(row["hardware"])
    try:
        if chip_id is None:
            raise _Skip(f"no preset for {row['hardware']}")
        uncalibrated = held_out == "chip"
        if family == "TensorRT-LLM":
            predicted = _predict_trtllm(row, chip_id, uncalibrated)
        elif family == "LLMCompass":
            predicted = _predict_llmcompass(row, held_out)
        elif is_throughput_row(row):  # JetStream, MLPerf GPT-J (validate.infer_tpu)
            predicted = predict_throughput_row(row, chip_id)
        elif family.startswith("MLPerf Inference"):
            left_out = {"source": family, "chip": "*"}.get(held_out or "")
            stack = stack or row_profile(row, left_out)
            predicted = _predict_mlperf(row, chip_id, uncalibrated, stack)
        elif family == "SGLang":  # PD-disaggregated wide-EP MoE (validate.infer_moe)
            predicted = predict_disagg_ep_row(row, chip_id)
        else:
            raise _Skip(
                f"source not recognised: {row['source'][:40]!r} "
                "(infer rows are read as TensorRT-LLM, LLMCompass or MLPerf rows)"
            )
    except (_Skip, NotModelled, TigrisError) as reason:
        return InferRow(predicted=None, error_pct=None, skipped=str(reason), **common)
    error = (predicted - measured) / measured * 100.0
    return InferRow(predicted=predicted, error_pct=error, **common)


def validate_infer_rows(
    sources: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[InferRow]:
    """Every inference row (or those of the given source families), predicted;
    `progress(done, total)` hears of rows done (the MLPerf rows take seconds each)."""
    wanted = set(sources) if sources is not None else None
    rows = [row for row in read_rows(CATEGORIES) if wanted is None or source_family(row) in wanted]
    return [evaluate_row(row) for row in with_progress(rows, progress)]


def summarize_by_source(results: list[InferRow]) -> list[dict[str, object]]:
    out = []
    for family in sorted({r.source for r in results}):
        rows = [r for r in results if r.source == family]
        errors = [abs(r.error_pct) for r in rows if r.error_pct is not None]
        out.append(
            {
                "source": family,
                "num_rows": len(errors),
                "num_skipped": sum(1 for r in rows if r.skipped),
                "mean_abs_error_pct": mean(errors) if errors else float("nan"),
                "max_abs_error_pct": max(errors) if errors else float("nan"),
            }
        )
    return out
