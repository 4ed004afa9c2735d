"""Published collective measurements (collective rows of measured.csv) vs the collective model.

Rows are nccl-tests / all_reduce_bench sweeps (stas00/ml-engineering: A100, H200, B200) and
Vidur's torch.distributed profiles (A100, H100). Each becomes a `CollectiveCase`: the
group it ran on (system, ranks, ranks per node), the message size, and the metric (time or
nccl-tests bus bandwidth). A row measured with NCCL's default algorithm is predicted
with NCCL's choice (ring, tree or NVLink SHARP); one measured with NVLS off (NCCL_NVLS_ENABLE=0)
with ring and tree only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from statistics import mean

from tigris.hardware.presets import load_chip, load_cluster
from tigris.hardware.system import Cluster
from tigris.parallel.collectives import CommGroup, collective_time_s, sent_fraction
from tigris.validate.measured import read_rows, with_progress

# Hardware names in the CSV (by prefix) -> catalog system ids.
HARDWARE_TO_SYSTEM = (
    ("NVIDIA A100", "dgx-a100"),
    ("NVIDIA H100", "dgx-h100"),
    ("NVIDIA H200", "hgx-h200"),
    ("NVIDIA B200", "dgx-b200"),
)
_SIZE_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_KIND = {"all-reduce": "all_reduce", "all-gather": "all_gather", "reduce-scatter": "reduce_scatter"}


@dataclass(frozen=True)
class CollectiveCase:
    row_id: str
    system_id: str
    kind: str
    num_ranks: int
    ranks_per_node: int
    message_bytes: float
    metric: str  # "time_s" or "busbw_bytes_per_s"
    measured: float
    source: str
    skipped: str | None = None
    algorithms: tuple[str, ...] | None = None  # NCCL_ALGO of the run; None: NCCL's default


@dataclass(frozen=True)
class CollectiveResult:
    case: CollectiveCase
    predicted: float | None
    error_pct: float | None


def _system_of(hardware: str) -> str | None:
    for prefix, system_id in HARDWARE_TO_SYSTEM:
        if hardware.startswith(prefix):
            return system_id
    return None


# Vidur's profiles (data/profiling/network/*/all_reduce.csv) give the message in bytes in
# their `size` column: vidur/profiling/collectives/collectives_wrapper.py records
# `"size": self._size * 2,  # bytes` (fp16 elements x 2). The packaged rows transcribed that
# column as "N fp16 elements (2N bytes)", doubling the message: 8 ranks of A100 at
# "134217728 bytes" in 0.675 ms would carry 348 GB/s of bus bandwidth over NVLink 3's 300
# GB/s, and 2 ranks of H100 beat NVLink 4's bound. The message is N bytes.
VIDUR_SIZE = re.compile(r"^(\d+) fp16 elements \(\d+ bytes\); torch\.distributed")


def _payload_bytes(notes: str) -> float | None:
    vidur = VIDUR_SIZE.search(notes)
    if vidur:
        return float(vidur.group(1))
    found = re.search(r"\((\d+) bytes\)", notes) or re.search(r"payload (\d+) bytes", notes)
    if found:
        return float(found.group(1))
    found = re.search(r"(\d+)\s*(KiB|MiB|GiB)", notes)
    if found:
        return float(found.group(1)) * _SIZE_UNITS[found.group(2)]
    return None


def _case_from_row(row: dict[str, str]) -> CollectiveCase | None:
    system_id = _system_of(row["hardware"])
    if system_id is None:
        return None
    notes, metric, locator = row["notes"], row["metric_name"], row["source_locator"]
    ranks = int(row["num_chips"])
    per_node = ranks
    found = re.search(r"devices_per_node=(\d+)", notes)
    if found:
        per_node = int(found.group(1))
    elif "x8/node" in row["hardware"]:
        per_node = 8
    value = float(row["metric_value"])
    kind = _KIND.get(metric.split("_busbw")[0], "all_reduce")
    size = _payload_bytes(notes)
    if size is None:
        size = _payload_bytes(locator)
    if size is None:
        return None
    # the metric is what NCCL's default choice ran; "NVLS off" rows ran without NVLS
    algorithms = ("ring", "tree") if "NVLS off" in notes else None
    if metric.endswith("busbw"):
        metric_kind, measured = "busbw_bytes_per_s", value * 1e9
    elif row["metric_unit"] == "us":
        metric_kind, measured = "time_s", value * 1e-6
    elif row["metric_unit"] == "ms":
        metric_kind, measured = "time_s", value * 1e-3
    else:
        return None
    return CollectiveCase(
        row_id=row["id"],
        system_id=system_id,
        kind=kind,
        num_ranks=ranks,
        ranks_per_node=per_node,
        message_bytes=size,
        metric=metric_kind,
        measured=measured,
        source=f"{row['source']} [{locator}]",
        algorithms=algorithms,
    )


def collective_case_or_reason(row: dict[str, str]) -> CollectiveCase | str:
    """The row's case (its `skipped` says why the model does not cover it, if it does not), or
    why it cannot be read (tigris.validate.protocol.map_rows)."""
    case = _case_from_row(row)
    if case is None:
        if _system_of(row["hardware"]) is None:
            return f"no system preset for {row['hardware'][:50]}"
        return "message size (notes, source_locator) or metric unit not recognised"
    return case


@lru_cache(maxsize=1)
def load_collective_cases() -> tuple[CollectiveCase, ...]:
    cases = (_case_from_row(row) for row in read_rows() if row["category"] == "collective")
    return tuple(case for case in cases if case is not None)


def cluster_with_node(cluster: Cluster, ranks_per_node: int) -> Cluster:
    """The cluster with `ranks_per_node` chips per node and scale-up domain (a run that
    placed fewer ranks on each node than it holds)."""
    if ranks_per_node == cluster.node.chips_per_node:
        return cluster
    scale_up = cluster.node.scale_up.model_copy(update={"num_chips": ranks_per_node})
    node = cluster.node.model_copy(update={"chips_per_node": ranks_per_node, "scale_up": scale_up})
    return cluster.model_copy(update={"node": node})


def predict(case: CollectiveCase) -> float:
    cluster = cluster_with_node(load_cluster(case.system_id), case.ranks_per_node)
    group = CommGroup(cluster, load_chip(cluster.chip), case.num_ranks)
    time_s = collective_time_s(case.kind, case.message_bytes, group, case.algorithms)
    if case.metric == "time_s":
        return time_s
    return case.message_bytes / time_s * sent_fraction(case.kind, case.num_ranks)


def validate_collectives(
    progress: Callable[[int, int], None] | None = None,
) -> list[CollectiveResult]:
    """Every collective row, predicted; `progress(done, total)` hears of rows done."""
    results = []
    for case in with_progress(list(load_collective_cases()), progress):
        if case.skipped:
            results.append(CollectiveResult(case, None, None))
            continue
        predicted = predict(case)
        error = (predicted - case.measured) / case.measured * 100.0
        results.append(CollectiveResult(case, predicted, error))
    return results


def group_key(case: CollectiveCase) -> str:
    """Source, system and whether the group crossed nodes: 'ml-engineering dgx-b200 multi-node'."""
    source = "vidur" if case.row_id.startswith("vidur") else "ml-engineering"
    span = "multi-node" if case.num_ranks > case.ranks_per_node else "one node"
    return f"{source} {case.system_id} {span}"


def summarize_collectives(results: list[CollectiveResult]) -> dict[str, tuple[int, float, float]]:
    """Per source, system and span (and 'all'): rows, mean |error| %, max |error| %."""
    groups: dict[str, list[float]] = {}
    for result in results:
        if result.error_pct is None:
            continue
        for key in (group_key(result.case), "all"):
            groups.setdefault(key, []).append(abs(result.error_pct))
    return {key: (len(errs), mean(errs), max(errs)) for key, errs in groups.items()}
