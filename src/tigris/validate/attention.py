"""Attention kernels vs published throughput (the `attention` rows of measured.csv).

Rows: Dao 2023, the FlashAttention-2 README's benchmark figures (forward + backward
TFLOP/s of FlashAttention-2, FlashAttention (v1) and PyTorch's standard attention on H100
and A100; causal and not; head dim 64 and 128; sequence 512 to 16k; hidden 2048 so heads =
2048 / head dim; batch = 16k / sequence). The benchmark counts flop as
4 * batch * seq^2 * heads * head_dim * 3.5 (forward + backward = 1 + 2.5), halved when
causal: the useful work, which is what `Attention.flop` counts too.

Each row is timed as one forward and one backward `Attention` op of its implementation.
The FlashAttention rows are the only data `attention_fraction` (per chip and
implementation) and the shared ATTENTION_BLOCK_OVERHEAD are fitted on; the 'standard' rows
are timed by a pure mechanism (batched GEMMs and S x S passes through DRAM) with no term
fitted on them, so they are a check of the GEMM and stream models.

`python -m tigris.validate.attention` prints the fit (per chip and implementation) and a
held-out check: the fraction fitted on the non-causal rows, scored on the causal ones.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from statistics import mean

from tigris.engines.tile import time_attention
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip
from tigris.validate.hardware_names import chip_for_hardware
from tigris.validate.measured import read_rows, source_label, with_progress
from tigris.workload.ops import Attention

IMPLEMENTATIONS = {
    "FlashAttention-2": "flash2",
    "FlashAttention (v1)": "flash1",
    "PyTorch standard": "standard",
    "FlashAttention-3": "flash3",
    "cuDNN": "cudnn",
    "Triton": "triton",
}
# What a row's metric times: forward + backward (the FlashAttention-2 README) or forward
# alone (the FlashAttention-3 paper's figures); flop multiple of the forward's.
PHASES = {"attention_fwd_bwd_tflops": ("fwd+bwd", 3.5), "attention_fwd_tflops": ("fwd", 1.0)}
PHASES_BY_NAME = dict(PHASES.values())
BENCHMARK_TOKENS = 16384
BENCHMARK_HIDDEN = 2048


@dataclass(frozen=True)
class AttentionCase:
    row_id: str
    chip_id: str
    implementation: str
    seq_len: int
    head_dim: int
    causal: bool
    measured_flop_per_s: float
    source: str = ""  # the publication (measured.source_label)
    phase: str = "fwd+bwd"  # or "fwd" (PHASES)
    dtype: str = "fp16"  # fp16/bf16 rows; "fp8" for FP8 kernels
    split: str = ""  # the row's split=... note (fit or held-out) where it gives one

    @property
    def batch(self) -> int:
        return BENCHMARK_TOKENS // self.seq_len

    @property
    def heads(self) -> int:
        return BENCHMARK_HIDDEN // self.head_dim

    def ops(self) -> tuple[Attention, ...]:
        forward = Attention(
            "attn",
            batch=self.batch,
            num_heads=self.heads,
            num_kv_heads=self.heads,
            head_dim=self.head_dim,
            q_len=self.seq_len,
            kv_len=self.seq_len,
            causal=self.causal,
            dtype=self.dtype,
            implementation=self.implementation,
        )
        if self.phase == "fwd":
            return (forward,)
        return forward, Attention(**{**forward.__dict__, "name": "attn.bwd", "phase": "bwd"})

    @property
    def flop(self) -> float:
        """The benchmarks' count: 4 b s^2 h d (x 3.5 with the backward), halved when causal."""
        multiple = PHASES_BY_NAME[self.phase]
        full = 4.0 * self.batch * self.seq_len**2 * self.heads * self.head_dim * multiple
        return full / 2 if self.causal else full


@dataclass(frozen=True)
class AttentionResult:
    case: AttentionCase
    predicted_flop_per_s: float
    error_pct: float


def _hardware_chip(hardware: str) -> str | None:
    """'NVIDIA H100 80GB SXM5' -> h100-sxm (the catalog's names drop memory and SXM gen)."""
    name = re.sub(r" (\d+GB|SXM\d?)", "", hardware)
    return chip_for_hardware(name)


def attention_case_or_reason(row: dict[str, str]) -> AttentionCase | str:
    """The row's case, or why it cannot be timed (tigris.validate.protocol.map_rows)."""
    found = re.search(r"^(\w+)\[(.*)\]", row["metric_name"])
    if found is None or found.group(2) not in IMPLEMENTATIONS or found.group(1) not in PHASES:
        known = ", ".join(IMPLEMENTATIONS)
        return f"metric {row['metric_name'][:40]!r} names no phase and implementation of {known}"
    chip_id = _hardware_chip(row["hardware"])
    if chip_id is None:
        return f"no preset for {row['hardware'][:50]}"
    head_dim = re.search(r"head dim (\d+)", row["notes"])
    if head_dim is None:
        return "notes give no 'head dim N'"
    return AttentionCase(
        row_id=row["id"],
        chip_id=chip_id,
        implementation=IMPLEMENTATIONS[found.group(2)],
        seq_len=int(row["seq_len"]),
        head_dim=int(head_dim.group(1)),
        causal="non-causal" not in row["notes"],
        measured_flop_per_s=float(row["metric_value"]) * 1e12,
        source=source_label(row["source"]),
        phase=PHASES[found.group(1)][0],
        dtype="fp8" if "fp8" in row["precision"] else "fp16",
        split=_split(row["notes"]),
    )


def _split(notes: str) -> str:
    """The 'split=fit' or 'split=held-out' a row's notes end with ('' where none)."""
    found = re.search(r"split=([\w-]+)", notes)
    return found.group(1) if found else ""


@lru_cache(maxsize=1)
def load_attention_cases() -> tuple[AttentionCase, ...]:
    """Every packaged attention row that maps to a case."""
    cases = (attention_case_or_reason(row) for row in read_rows(("attention",)))
    return tuple(case for case in cases if isinstance(case, AttentionCase))


def evaluate_attention(case: AttentionCase, chip: Chip | None = None) -> AttentionResult:
    chip = chip or load_chip(case.chip_id)
    time_s = sum(time_attention(op, chip).time_s for op in case.ops())
    predicted = case.flop / time_s
    error = (predicted - case.measured_flop_per_s) / case.measured_flop_per_s * 100.0
    return AttentionResult(case, predicted, error)


def validate_attention(
    progress: Callable[[int, int], None] | None = None,
) -> list[AttentionResult]:
    """Every attention row, predicted; `progress(done, total)` hears of rows done."""
    cases = list(load_attention_cases())
    return [evaluate_attention(case) for case in with_progress(cases, progress)]


def summarize_attention(
    results: list[AttentionResult],
) -> dict[tuple[str, str], tuple[int, float, float, float]]:
    """Per (chip, implementation): rows, mean |error| %, max |error| %, mean signed error %."""
    groups: dict[tuple[str, str], list[float]] = {}
    for result in results:
        key = (result.case.chip_id, result.case.implementation)
        groups.setdefault(key, []).append(result.error_pct)
    return {
        key: (len(errors), mean(abs(e) for e in errors), max(abs(e) for e in errors), mean(errors))
        for key, errors in sorted(groups.items())
    }


# ---- fitting (prints values to copy into the chip presets) ---------------------------


def _with_fraction(chip: Chip, implementation: str, fraction: float) -> Chip:
    calibration = chip.calibration
    fractions = {**calibration.attention_fraction, implementation: fraction}
    return chip.model_copy(
        update={"calibration": calibration.model_copy(update={"attention_fraction": fractions})}
    )


def fit_fraction(chip: Chip, implementation: str, cases: list[AttentionCase]) -> float:
    """The attention_fraction (grid of 0.005) minimising the mean |error| over `cases`."""
    best, best_error = 1.0, float("inf")
    for step in range(20, 201):
        fraction = step * 0.005
        trial = _with_fraction(chip, implementation, fraction)
        error = mean(abs(evaluate_attention(case, trial).error_pct) for case in cases)
        if error < best_error:
            best, best_error = fraction, error
    return best


# FlashAttention-3's pingpong ablation (Shah et al. 2024, arXiv:2407.08608, sec. 3.1): FP16
# forward, head dim 128, sequence 8192, on H100 SXM5 (the paper's batch x seq = 16k, hidden
# 2048), 570 TFLOP/s with the softmax serialised and 620-640 with pingpong scheduling.
PINGPONG_ABLATION = {"serial": 570e12, "overlapped": 630e12}  # 630: the middle of 620-640


def _solve(rate: Callable[[float], float], target: float) -> float:
    """x in [0, 1] where the increasing `rate(x)` reaches `target` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if rate(middle) < target else (low, middle)
    return round((low + high) / 2, 3)


def fit_overlap(chip_id: str = "h100-sxm") -> tuple[float, float]:
    """(matrix fraction, overlap share) of FlashAttention-3 from the pingpong ablation: the
    fraction at which the serialised kernel (share 0) runs at 570 TFLOP/s, then the share at
    which it runs at 630 (engines.tile.attention.OVERLAPPED_SOFTMAX)."""
    from tigris.engines.tile.attention import flash_time_s

    case = AttentionCase("pingpong", chip_id, "flash3", 8192, 128, False, 0.0, phase="fwd")
    (op,) = case.ops()
    chip = load_chip(chip_id)

    def rate(fraction: float, hidden: float) -> float:
        return case.flop / flash_time_s(op, _with_fraction(chip, "flash3", fraction), hidden)

    fraction = _solve(lambda f: rate(f, 0.0), PINGPONG_ABLATION["serial"])
    return fraction, _solve(lambda h: rate(fraction, h), PINGPONG_ABLATION["overlapped"])


def main(argv: list[str]) -> int:
    fraction, share = fit_overlap()
    print(f"flash3 pingpong ablation: fraction {fraction:.3f}, overlap share {share:.3f}")
    cases = load_attention_cases()
    groups: dict[tuple[str, str], list[AttentionCase]] = {}
    for case in cases:
        if case.implementation != "standard":
            groups.setdefault((case.chip_id, case.implementation), []).append(case)
    print("fit on all rows of the group, and held out: fit on non-causal, score causal")
    for (chip_id, implementation), group in sorted(groups.items()):
        chip = load_chip(chip_id)
        fraction = fit_fraction(chip, implementation, group)
        fitted = _with_fraction(chip, implementation, fraction)
        error = mean(abs(evaluate_attention(case, fitted).error_pct) for case in group)
        train = [case for case in group if not case.causal]
        test = [case for case in group if case.causal]
        held = fit_fraction(chip, implementation, train)
        held_chip = _with_fraction(chip, implementation, held)
        held_error = mean(abs(evaluate_attention(case, held_chip).error_pct) for case in test)
        print(
            f"{chip_id:14s} {implementation:7s} rows {len(group):2d}  fraction {fraction:.3f} "
            f"mean |err| {error:5.1f}%   held-out: fraction {held:.3f} on {len(train)} "
            f"non-causal rows, causal rows mean |err| {held_error:5.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
