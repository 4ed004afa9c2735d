"""Published single-chip measurements (gemm and memory_bw rows of measured.csv) as cases.

Each case pairs one measured row with the ops it ran and how the metric is read off a
prediction. The CSV ships in the package (a copy of shared/data/calibration/measured.csv,
every row with its source), so validation needs no download.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TypeVar

from tigris.validate.hardware_names import chip_for_hardware
from tigris.workload.ops import Gemm, Stream

T = TypeVar("T")


def with_progress(items: Sequence[T], progress: Callable[[int, int], None] | None) -> Iterator[T]:
    """The items in order, telling `progress(done, total)` before each and at the end
    (the rows of a validation: some take seconds, a whole table a minute)."""
    total = len(items)
    for done, item in enumerate(items):
        if progress is not None:
            progress(done, total)
        yield item
    if progress is not None:
        progress(total, total)


# Hardware names in the CSV -> catalog chip ids. Rows on chips without a preset are
# reported as skipped.

_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp8 e4m3fn": "fp8"}


@dataclass(frozen=True)
class Case:
    """One measured row: the ops it ran and how its metric follows from their time."""

    row_id: str
    category: str
    hardware: str
    chip_id: str | None
    ops: tuple[Gemm | Stream, ...]
    metric: str  # "time_s", "flop_per_s" or "elements_per_s"
    measured: float  # in SI units of `metric`
    host_timed: bool  # the time includes the host's launch of the op
    source: str
    work: float = 0.0  # flop or elements, for rate metrics

    def metric_from_time(self, time_s: float) -> float:
        return time_s if self.metric == "time_s" else self.work / time_s


def source_label(source: str) -> str:
    """The publication a row comes from ("vidur", "LLMCompass", "ml-engineering"): the
    last part of the source column's first word, the unit a held-out source leaves out."""
    return source.split()[0].rstrip(",").rsplit("/", 1)[-1] if source.strip() else "?"


def read_rows(categories: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """The packaged measured.csv rows, optionally only those of some categories."""
    path = resources.files("tigris.validate") / "data" / "measured.csv"
    with path.open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        return [row for row in rows if categories is None or row["category"] in categories]


def _ints(pattern: str, text: str) -> tuple[int, ...] | None:
    found = re.search(pattern, text)
    return tuple(int(group) for group in found.groups()) if found else None


def _vidur_gemm(row: dict[str, str]) -> Gemm | None:
    """Vidur's per-layer projections of Llama-2, sharded by tp, M = tokens."""
    tokens = int(row["global_batch_tokens_or_seqs"].split()[0])
    hidden, heads = int(row["hidden"]), int(row["heads"])
    kv_heads, ffn, tp = int(row["kv_heads"]), int(row["ffn_hidden"]), int(row["tp"])
    head_dim = hidden // heads
    shapes = {
        "attn_pre_proj": ((heads + 2 * kv_heads) * head_dim // tp, hidden),
        "attn_post_proj": (hidden, heads * head_dim // tp),
        "mlp_up_proj": (2 * ffn // tp, hidden),
        "mlp_down_proj": (hidden, ffn // tp),
    }
    for prefix, (n, k) in shapes.items():
        if row["metric_name"].startswith(prefix):
            return Gemm(prefix, m=tokens, n=n, k=k, dtype=_DTYPE[row["precision"]])
    return None


def _case_from_row(row: dict[str, str]) -> Case | None:
    row_id, notes, metric = row["id"], row["notes"], row["metric_name"]
    value = float(row["metric_value"])
    common = {
        "row_id": row_id,
        "category": row["category"],
        "hardware": row["hardware"],
        "chip_id": chip_for_hardware(row["hardware"]),
        "source": f"{row['source']} [{row['source_locator']}]",
    }
    if metric == "max_achievable_matmul_tflops":
        shape = _ints(r"MxNxK=(\d+)x(\d+)x(\d+)", notes)
        if shape is None or row["precision"] not in _DTYPE:
            return None
        gemm = Gemm("mamf", *shape, dtype=_DTYPE[row["precision"]])
        return Case(
            ops=(gemm,),
            metric="flop_per_s",
            measured=value * 1e12,
            host_timed=False,
            work=gemm.flop,
            **common,
        )
    if metric == "matmul_tflops":
        shape = _ints(r"M=(\d+) N=(\d+) K=(\d+)", notes)
        if shape is None:
            return None
        m, n, k = shape
        gemm = Gemm("matmul", m=m, n=n, k=k, dtype=_DTYPE[row["precision"]])
        return Case(
            ops=(gemm,),
            metric="flop_per_s",
            measured=value * 1e12,
            host_timed=True,
            work=gemm.flop,
            **common,
        )
    if metric.endswith("_time_median") and row["source"].startswith("microsoft/vidur"):
        gemm = _vidur_gemm(row)
        if gemm is None:
            return None
        return Case(ops=(gemm,), metric="time_s", measured=value * 1e-3, host_timed=False, **common)
    if metric in ("softmax_throughput", "layernorm_throughput", "gelu_throughput"):
        shape = _ints(r"\[M=(\d+), N=(\d+)\]", notes)
        elements = shape[0] * shape[1] if shape else _ints(r"over (\d+) elements", notes)[0]
        kind = metric.split("_")[0]
        # fp16 in, fp16 out; flop per element: softmax ~5, layernorm ~8, GELU (tanh) ~8.
        flop = {"softmax": 5.0, "layernorm": 8.0, "gelu": 8.0}[kind]
        stream = Stream(kind, elements, 2.0 * elements, 2.0 * elements, flop)
        return Case(
            ops=(stream,),
            metric="elements_per_s",
            measured=value * 1e9,
            host_timed=True,
            work=float(elements),
            **common,
        )
    return None


def case_or_reason(row: dict[str, str]) -> Case | str:
    """The row's case, or why it cannot be turned into ops (tigris.validate.protocol)."""
    if row["category"] == "gemm" and row["precision"] not in _DTYPE:
        return f"precision not modelled: {row['precision'][:30]!r}"
    case = _case_from_row(row)
    if case is None:
        return f"metric {row['metric_name'][:40]!r} or its shape in the notes not recognised"
    return case


@lru_cache(maxsize=1)
def load_cases() -> tuple[Case, ...]:
    """Every gemm and memory_bw row that can be turned into ops."""
    cases = []
    for row in read_rows():
        if row["category"] in ("gemm", "memory_bw"):
            case = _case_from_row(row)
            if case is not None:
                cases.append(case)
    return tuple(cases)
