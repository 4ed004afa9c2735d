"""Single kernels: `attention`, `collective` and `stream` (`tigris attention|collective|
stream`), each with an 80 % `interval` on its time from held-out validation residuals.

The interval is the prediction times the 10th and 90th percentiles of measured / predicted
time over the held-out rows of the kernel's category (attention, collective, memory_bw),
restricted to the rows most like the query when there are enough of them (the same kind of
attention kernel, a collective inside one node or across nodes). A chip (or system) with
measured rows of the category takes the rows held out by source (its fit re-done without
the row's publication); one with none takes the rows held out by chip (each chip run on
defaults, as an unmeasured chip is), which gives it the wider band it deserves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.api.inputs import Overrides, check_choice, check_int, resolve_chip
from tigris.api.operators import MAX_GEMM_SIZE
from tigris.errors import SpecError, given

if TYPE_CHECKING:
    from tigris.engines.base import OpTime
    from tigris.hardware.chip import Chip
    from tigris.hardware.system import Cluster
    from tigris.validate.protocol import Scored

PHASES = ("fwd", "bwd", "fwd+bwd")
ATTENTION_DTYPES = ("bf16", "fp16", "fp8")
COLLECTIVE_KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "p2p")
MAX_BYTES = 1e18  # an exabyte: a typo of many digits is a usage error, not a time of years


# ---------------------------------------------------------------------------- intervals


def time_ratios(scored: Sequence[Scored], like: Callable[[object], bool] | None = None) -> list:
    """Measured / predicted time of each held-out row (a rate metric inverted), only the
    rows whose inputs `like` accepts when at least MIN_RESIDUALS are."""
    from tigris.validate.protocol import MIN_RESIDUALS

    rows = [row for row in scored if row.predicted_held_out]
    if like is not None and sum(like(row.case.inputs) for row in rows) >= MIN_RESIDUALS:
        rows = [row for row in rows if like(row.case.inputs)]
    return [
        row.case.measured / row.predicted_held_out  # type: ignore[operator]
        if row.case.metric == "time_s"
        else row.predicted_held_out / row.case.measured  # type: ignore[operator]
        for row in rows
    ]


def time_interval(time_s: float, ratios: list[float], basis: str) -> dict[str, object] | None:
    """The INTERVAL_COVERAGE band of `time_s` from the ratios; None with too few."""
    import numpy as np

    from tigris.validate.protocol import INTERVAL_COVERAGE, MIN_RESIDUALS

    if len(ratios) < MIN_RESIDUALS:
        return None
    tail = (1.0 - INTERVAL_COVERAGE) / 2.0
    low, high = np.quantile(np.asarray(ratios), [tail, 1.0 - tail])
    return {
        "metric": "time_s",
        "low": time_s * float(low),
        "high": time_s * float(high),
        "coverage": INTERVAL_COVERAGE,
        "basis": f"{basis} ({len(ratios)} rows)",
    }


def _holdout_for(measured: bool) -> str:
    return "source" if measured else "chip"


# ---------------------------------------------------------------------------- attention


@dataclass(frozen=True)
class AttentionKernelResult:
    """One attention call (forward, backward or both) timed on a chip."""

    chip: Chip
    shape: dict[str, object]
    timings: tuple[OpTime, ...]
    interval: dict[str, object] | None = field(default=None)

    @property
    def time_s(self) -> float:
        return sum(t.time_s for t in self.timings)

    @property
    def flop(self) -> float:
        return sum(t.flop for t in self.timings)

    @property
    def dram_bytes(self) -> float:
        return sum(t.dram_bytes for t in self.timings)

    @property
    def bound(self) -> str:
        """What limits the longest of the kernels (compute, memory or overhead)."""
        return max(self.timings, key=lambda t: t.time_s).bound

    def to_dict(self) -> dict[str, object]:
        """What `tigris attention --json` prints."""
        return {
            "chip": self.chip.id,
            **self.shape,
            "time_s": self.time_s,
            "flop": self.flop,
            "achieved_flop_per_s": self.flop / self.time_s,
            "dram_bytes": self.dram_bytes,
            "bound": self.bound,
            "kernels": [t.to_dict() for t in self.timings],
            "interval": self.interval,
        }


def _check_attention(shape: dict[str, object]) -> None:
    for option in ("--batch", "--heads", "--kv-heads", "--head-dim", "--seq-len", "--kv-len"):
        check_int(option, shape[option.lstrip("-").replace("-", "_")], 1, MAX_GEMM_SIZE)
    if shape["heads"] % shape["kv_heads"]:  # type: ignore[operator]
        raise SpecError(
            f"{shape['kv_heads']} KV heads do not divide {shape['heads']} query heads",
            key_path="--kv-heads",
        )
    if shape["causal"] and shape["kv_len"] < shape["seq_len"]:  # type: ignore[operator]
        raise SpecError(
            f"causal attention needs --kv-len >= --seq-len ({shape['seq_len']}), "
            f"got {shape['kv_len']}",
            key_path="--kv-len",
        )
    check_choice(shape["phase"], PHASES, "--phase")
    check_choice(shape["implementation"], _implementations(), "--impl")
    check_choice(shape["dtype"], ATTENTION_DTYPES, "--dtype")


def _implementations() -> tuple[str, ...]:
    from tigris.workload.ops import ATTENTION_IMPLEMENTATIONS

    return ATTENTION_IMPLEMENTATIONS


def attention(
    *,
    chip: str | Path | Chip,
    batch: int,
    heads: int,
    head_dim: int,
    seq_len: int,
    kv_heads: int | None = None,
    kv_len: int | None = None,
    causal: bool = True,
    phase: str = "fwd",
    implementation: str = "flash2",
    dtype: str = "bf16",
    overrides: Overrides | None = None,
) -> AttentionKernelResult:
    """Time one attention call (`phase` fwd, bwd or fwd+bwd) of `implementation`
    (flash2, flash1, standard, fused_softmax) on `chip` with the tile engine."""

    shape: dict[str, object] = {
        "batch": batch, "heads": heads, "kv_heads": kv_heads or heads, "head_dim": head_dim,
        "seq_len": seq_len, "kv_len": kv_len or seq_len, "causal": causal, "phase": phase,
        "implementation": implementation, "dtype": dtype,
    }  # fmt: skip
    _check_attention(shape)
    spec = resolve_chip(chip, overrides)
    found = AttentionKernelResult(spec, shape, _attention_timings(shape, spec))
    return _with_interval(found, _attention_interval(found))


def _attention_timings(shape: dict, chip: Chip) -> tuple[OpTime, ...]:
    """The kernels of the call (forward, backward or both) timed on `chip`."""
    from tigris.engines.tile import time_attention
    from tigris.workload.ops import Attention

    phases = ("fwd", "bwd") if shape["phase"] == "fwd+bwd" else (shape["phase"],)
    return tuple(
        time_attention(
            Attention(
                f"attention.{name}", batch=shape["batch"], num_heads=shape["heads"],
                num_kv_heads=shape["kv_heads"], head_dim=shape["head_dim"],
                q_len=shape["seq_len"], kv_len=shape["kv_len"], causal=shape["causal"],
                dtype=shape["dtype"], phase=name, implementation=shape["implementation"],
            ),
            chip,
        )
        for name in phases
    )  # fmt: skip


def _with_interval(result, interval):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(result, interval=interval)


def _attention_interval(found: AttentionKernelResult) -> dict | None:
    """The band around the call timed as the held-out rows were (the chip's attention
    fractions dropped, or all its efficiencies at defaults), scaled by their residuals."""
    from tigris.engines.tile.common import UNFUSED_ATTENTION
    from tigris.hardware.chip import Calibration
    from tigris.validate.attention_protocol import refit_chip, validate_attention_protocol

    chip = found.chip
    measured = bool(chip.calibration.attention_fraction or chip.calibration.fitted_on)
    holdout = _holdout_for(measured)
    if holdout == "source":
        held_out = refit_chip(chip, [])
    else:
        held_out = chip.model_copy(update={"calibration": Calibration()})
    time_s = sum(t.time_s for t in _attention_timings(found.shape, held_out))
    unfused = found.shape["implementation"] in UNFUSED_ATTENTION
    scored = validate_attention_protocol(holdout=holdout).scored
    ratios = time_ratios(scored, lambda case: (case.implementation in UNFUSED_ATTENTION) == unfused)
    kind = "unfused" if unfused else "fused"
    state = "chip fitted" if measured else "chip unmeasured"
    basis = f"held-out attention rows by {holdout}, {kind}, {state}; around the held-out time"
    return time_interval(time_s, ratios, basis)


# ---------------------------------------------------------------------------- stream


@dataclass(frozen=True)
class StreamResult:
    """A memory-bound kernel reading and writing DRAM once, timed on a chip."""

    chip: Chip
    read_bytes: float
    write_bytes: float
    timing: OpTime
    interval: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        """What `tigris stream --json` prints."""
        moved = self.read_bytes + self.write_bytes
        return {
            "chip": self.chip.id,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            "time_s": self.timing.time_s,
            "achieved_bytes_per_s": moved / self.timing.time_s,
            "peak_bytes_per_s": self.chip.dram_bandwidth_bytes_per_s,
            "bound": self.timing.bound,
            "overhead_s": self.timing.overhead_s,
            "interval": self.interval,
        }


def byte_count(value: object, option: str, allow_zero: bool = False) -> float:
    """A byte count given as a number or a quantity ('1 GiB'); SpecError naming `option`."""
    from tigris.units import UnitError, parse_quantity

    try:
        count = float(value) if isinstance(value, (int, float)) else float(str(value))
    except ValueError:
        try:
            count = parse_quantity(value, "capacity")
        except UnitError as error:
            raise SpecError(str(error), key_path=option) from None
    if not (0.0 if allow_zero else 1.0) <= count <= MAX_BYTES:
        low = "0" if allow_zero else "1"
        raise SpecError(f"must be from {low} to {MAX_BYTES:.0e} bytes, got {given(value)}", key_path=option)  # fmt: skip
    return count


def stream(
    *,
    chip: str | Path | Chip,
    read_bytes: float | str,
    write_bytes: float | str = 0,
    overrides: Overrides | None = None,
) -> StreamResult:
    """Time a kernel that reads `read_bytes` and writes `write_bytes` of DRAM once (a copy,
    a norm, an optimizer step: no arithmetic to speak of) on `chip`."""
    from tigris.engines.tile import time_stream
    from tigris.workload.ops import Stream

    read = byte_count(read_bytes, "--read-bytes", allow_zero=True)
    write = byte_count(write_bytes, "--write-bytes", allow_zero=True)
    if read + write == 0:
        raise SpecError("nothing to move: give --read-bytes or --write-bytes", key_path="--read-bytes")  # fmt: skip
    spec = resolve_chip(chip, overrides)
    # elements of 2 bytes (bf16) read, no arithmetic: the time is DRAM's and the launch's
    op = Stream("stream", max(1, int(read // 2)), read, write, flop_per_element=0.0)
    timing = time_stream(op, spec)
    found = StreamResult(spec, read, write, timing)
    return _with_interval(found, _stream_interval(spec, timing.time_s))


def _stream_interval(chip: Chip, time_s: float) -> dict | None:
    measured = bool(chip.calibration.fitted_on)
    holdout = _holdout_for(measured)
    ratios = time_ratios(memory_bw_held_out(holdout))
    state = "chip fitted" if measured else "chip unmeasured"
    return time_interval(time_s, ratios, f"held-out memory_bw rows by {holdout}, {state}")


def memory_bw_held_out(holdout: str) -> list[Scored]:
    """The packaged memory_bw rows predicted with their chip's GEMM calibration re-fitted
    without the row's source (or on defaults, by chip)."""
    from tigris.validate.calibrate import held_out_chip
    from tigris.validate.measured import load_cases, source_label
    from tigris.validate.protocol import Scored, ValidationCase
    from tigris.validate.single_chip import evaluate

    out = []
    for case in load_cases():
        if case.category != "memory_bw" or case.chip_id is None:
            continue
        chip = held_out_chip(case.chip_id, holdout, source_label(case.source))
        protocol = ValidationCase(
            case.row_id, source_label(case.source), case.chip_id, case.category,
            case, case.measured, False, case.metric,
        )  # fmt: skip
        out.append(Scored(protocol, None, evaluate(case, chip).predicted))
    return out


# ---------------------------------------------------------------------------- collective


@dataclass(frozen=True)
class CollectiveKernelResult:
    """One collective over `ranks` ranks of a system."""

    system: Cluster
    kind: str
    message_bytes: float
    ranks: int
    time_s: float
    tier: str
    interval: dict[str, object] | None = None

    @property
    def algorithm_bandwidth(self) -> float:
        return self.message_bytes / self.time_s

    @property
    def bus_bandwidth(self) -> float:
        from tigris.parallel.collectives import sent_fraction

        factor = 1.0 if self.kind == "broadcast" else sent_fraction(self.kind, self.ranks)
        return self.algorithm_bandwidth * factor

    def to_dict(self) -> dict[str, object]:
        """What `tigris collective --json` prints."""
        return {
            "system": self.system.id,
            "kind": self.kind,
            "bytes": self.message_bytes,
            "ranks": self.ranks,
            "time_s": self.time_s,
            "algorithm_bandwidth_bytes_per_s": self.algorithm_bandwidth,
            "bus_bandwidth_bytes_per_s": self.bus_bandwidth,
            "tier": self.tier,
            "interval": self.interval,
        }


def collective(
    *,
    system: str | Path | Cluster,
    kind: str,
    message_bytes: float | str,
    ranks: int,
) -> CollectiveKernelResult:
    """Time one NCCL-style collective of `message_bytes` (the buffer per rank, as
    nccl-tests sizes it) over `ranks` consecutive ranks of `system`. A broadcast is timed
    as the pipelined ring it runs: the all-gather whose per-rank traffic equals the
    message (so each link carries the message once)."""
    from tigris.hardware.presets import load_chip
    from tigris.hardware.quantities import MAX_COUNT
    from tigris.parallel.collectives import CommGroup, collective_time_s

    check_choice(kind, COLLECTIVE_KINDS, "--kind")
    check_int("--ranks", ranks, 2, MAX_COUNT)
    size = byte_count(message_bytes, "--bytes")
    if kind == "p2p" and ranks != 2:
        raise SpecError(f"p2p is between 2 ranks, got {ranks}", key_path="--ranks")
    cluster = _system(system)
    group = CommGroup(cluster, load_chip(cluster.chip), ranks)
    if kind == "broadcast":
        time_s = collective_time_s("all_gather", size * ranks / (ranks - 1), group)
    else:
        time_s = collective_time_s(kind, size, group)
    tier = cluster.node.scale_up.name if group.num_domains == 1 else cluster.scale_out[0].name
    found = CollectiveKernelResult(cluster, kind, size, ranks, time_s, tier)
    return _with_interval(found, _collective_interval(found, group.num_domains > 1))


def _system(system: str | Path | Cluster) -> Cluster:
    from tigris.hardware.presets import load_cluster
    from tigris.hardware.system import Cluster

    if isinstance(system, Cluster):
        return system
    if not isinstance(system, (str, Path)):
        raise SpecError(f"must be a system id or a YAML file, got {given(system)}", key_path="--system")  # fmt: skip
    return load_cluster(str(system))


def _collective_interval(found: CollectiveKernelResult, across: bool) -> dict | None:
    from tigris.validate.collective_protocol import fit_set, validate_collectives_protocol

    measured = found.system.id in {case.system_id for case in fit_set()}
    holdout = _holdout_for(measured)
    scored = validate_collectives_protocol(holdout=holdout).scored
    ratios = time_ratios(scored, lambda case: (case.num_ranks > case.ranks_per_node) == across)
    span = "across nodes" if across else "one node"
    state = "system fitted" if measured else "system unmeasured"
    basis = f"held-out collective rows by {holdout}, {span}, {state}"
    return time_interval(found.time_s, ratios, basis)
