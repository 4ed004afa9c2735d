"""LLMCompass (ISCA 2024, Fig. 5) inference rows: per-operator latencies of one GPT-3 175B
layer, tp 4 on A100, each op timed alone from the host (tigris.validate.infer's docstring
gives the harness). In-sample, the host path of the eager and torch.compile'd ops is read
off the same harness's op sweeps (a fit on LLMCompass rows); held out, it comes from a
prior that no LLMCompass row feeds (TORCH_COMPILE_CALL_S and the chip's host_overhead)."""

from __future__ import annotations

import re
from functools import lru_cache

from tigris.engines.base import get_engine
from tigris.hardware.chip import Chip
from tigris.hardware.presets import default_cluster, load_chip
from tigris.validate.calibrate import held_out_chip
from tigris.validate.measured import read_rows
from tigris.workload.ops import Gemm, Stream

LLMCOMPASS_GPT3 = dict(hidden=12288, heads=96, tp=4, batch=8, prefill_len=2048, kv_len=3072)


def _llmcompass_ops(phase: str, name: str) -> list[Gemm | Stream]:
    g = LLMCOMPASS_GPT3
    h, tp, b = g["hidden"], g["tp"], g["batch"]
    heads = g["heads"] // tp
    d = h // g["heads"]
    rows, q, kv = (b * g["prefill_len"], g["prefill_len"], g["prefill_len"])
    if phase == "decode":
        rows, q, kv = b, 1, g["kv_len"]
    dt = "fp16"
    ops = {
        "Q_K_V": [Gemm("qkv", m=rows, n=3 * h // tp, k=h, dtype=dt)],
        "Q_mul_K": [Gemm("qk", m=q, n=kv, k=d, batch=b * heads, dtype=dt)],
        "A_mul_V": [Gemm("av", m=q, n=d, k=kv, batch=b * heads, dtype=dt)],
        "Wo_proj": [Gemm("wo", m=rows, n=h, k=h // tp, dtype=dt)],
        "W1_proj": [Gemm("w1", m=rows, n=4 * h // tp, k=h, dtype=dt)],
        "W2_proj": [Gemm("w2", m=rows, n=h, k=4 * h // tp, dtype=dt)],
        "Softmax": [
            Stream(
                "softmax",
                b * heads * q * kv,
                2.0 * b * heads * q * kv,
                2.0 * b * heads * q * kv,
                5.0,
            )
        ],
        "LayerNorm_MHA": [Stream("ln", rows * h, 2.0 * rows * h, 2.0 * rows * h, 7.0)],
        "LayerNorm_FFN": [Stream("ln", rows * h, 2.0 * rows * h, 2.0 * rows * h, 7.0)],
        "GeLU": [
            Stream(
                "gelu", rows * 4 * h // tp, 2.0 * rows * 4 * h // tp, 2.0 * rows * 4 * h // tp, 8.0
            )
        ],
    }
    return ops.get(name, [])


def _llmcompass_allreduce_s(phase: str, chip: Chip) -> float:
    from tigris.parallel.collectives import CommGroup, collective_time_s

    g = LLMCOMPASS_GPT3
    cluster = default_cluster(chip)
    rows = g["batch"] * (g["prefill_len"] if phase == "prefill" else 1)
    group = CommGroup(cluster, chip, g["tp"])  # type: ignore[arg-type]
    return collective_time_s("all_reduce", rows * g["hidden"] * 2.0, group)


LLMCOMPASS_OPS = (
    "Q_K_V", "Q_mul_K", "A_mul_V", "Wo_proj", "W1_proj", "W2_proj",
    "Softmax", "LayerNorm_MHA", "LayerNorm_FFN", "GeLU", "AllReduce_MHA", "AllReduce_FFN",
)  # fmt: skip


# The harness's op sweeps on A100 (measured.csv ids) whose smallest size gives the host
# path of each non-GEMM op: eager torch.softmax, torch.compile'd layer_norm and gelu.
LLMCOMPASS_HOST_ROWS = {
    "Softmax": "llmcompass_softmax_534",  # [4096, 32]
    "LayerNorm_MHA": "llmcompass_layernorm_556",  # [4096, 32]
    "LayerNorm_FFN": "llmcompass_layernorm_556",
    "GeLU": "llmcompass_gelu_644",  # 1024 elements
}


# The host paths with nothing of LLMCompass measured (a held-out score of its rows): the
# eager path is the chip's fitted launch of an ATen op (host_overhead, fitted on GEMM rows
# without LLMCompass's); a torch.compile'd call adds TorchDynamo's guards and Inductor's
# wrapper, ~33 us end to end against ~1.3 us for a bare cuLaunchKernel
# (meta-pytorch/tritonbench PR #1017): 31.7 us more.
TORCH_COMPILE_CALL_S = 31.7e-6
LLMCOMPASS_COMPILED_OPS = ("LayerNorm_MHA", "LayerNorm_FFN", "GeLU")


def llmcompass_host_paths(chip: Chip, measured: bool) -> dict[str, float]:
    """Host time per call of each non-GEMM op: read off the harness's own sweeps
    (`measured`: the in-sample fit, LLMCOMPASS_HOST_ROWS) or from the prior above."""
    if measured:
        return {name: _llmcompass_host_s(row_id) for name, row_id in LLMCOMPASS_HOST_ROWS.items()}
    eager = chip.calibration.host_overhead
    return {
        name: eager + (TORCH_COMPILE_CALL_S if name in LLMCOMPASS_COMPILED_OPS else 0.0)
        for name in LLMCOMPASS_HOST_ROWS
    }


@lru_cache(maxsize=8)
def _llmcompass_host_s(row_id: str) -> float:
    """Host time of one call on the harness's path: a tiny op's measured latency less
    the engine's device time for it (a fit on LLMCompass's own rows: in-sample only)."""
    row = next(r for r in read_rows() if r["id"] == row_id)
    shape = re.findall(r"[MN]=(\d+)", row["notes"])
    if shape:
        elements = int(shape[0]) * int(shape[1])
    else:
        elements = int(re.search(r"over (\d+) elements", row["notes"]).group(1))  # type: ignore[union-attr]
    latency_s = elements / (float(row["metric_value"]) * 1e9)
    chip = load_chip("a100-sxm-80gb")
    tiny = Stream("tiny", elements, 2.0 * elements, 2.0 * elements, 8.0)
    return max(0.0, latency_s - get_engine("tile").time(tiny, chip).time_s)


def _llmcompass_op_s(phase: str, name: str, chip: Chip, host: dict[str, float]) -> float:
    if name.startswith("AllReduce"):
        return _llmcompass_allreduce_s(phase, chip)
    engine = get_engine("tile")
    ops = _llmcompass_ops(phase, name)
    host_s = host.get(name, chip.calibration.host_overhead)
    return sum(engine.time(op, chip).time_s + host_s for op in ops)


def _predict_llmcompass(row: dict[str, str], held_out: str | None = None) -> float:
    """In-sample: the preset A100 and the host paths read off the harness's sweeps.
    Held out: no LLMCompass measurement feeds the prediction (the A100 calibration
    re-fitted without LLMCompass's GEMM rows, or uncalibrated for a held-out chip; the
    host paths from the prior)."""
    chip = held_out_chip("a100-sxm-80gb", held_out, "LLMCompass")
    host = llmcompass_host_paths(chip, measured=held_out is None)
    phase, rest = row["metric_name"].split("_", 1)
    if rest == "layer_latency_sum":
        return sum(_llmcompass_op_s(phase, name, chip, host) for name in LLMCOMPASS_OPS)
    return _llmcompass_op_s(phase, rest.removesuffix("_latency"), chip, host)
