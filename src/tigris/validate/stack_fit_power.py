"""The stack each power.csv row ran, and the fit of a stack's host times on power rows.

Row -> stack (`power_row_stack`), from what each source states:
- ML.ENERGY Leaderboard v3 -> vllm-server: vLLM 0.11 (V1 engine, async scheduling) behind
  its OpenAI server, responses streamed (ml-energy/benchmark docs/running-benchmarks.md
  names vllm/vllm-openai:v0.11.1, the configs set async-scheduling and
  max-num-batched-tokens 8192);
- ML.ENERGY Leaderboard v2 (2024) -> vllm-v0-server: vLLM 0.5.4 V0 behind its OpenAI
  server in the engine's process (image mlenergy/vllm:v0.5.4-openai,
  --disable-frontend-multiprocessing, chunked prefill off);
- Argonne LLM-Inference-Bench -> by the row's framework: vLLM -> vllm-v0 (vLLM 0.5.x
  offline, benchmark_latency.py), TensorRT-LLM -> trtllm, other -> the chip's default;
- MLPerf (TensorRT submissions) -> trtllm; anything else: the chip's default stack.

The fit (`fit_host_times`): a server or V0 stack's two host times, per engine step
(`step_overhead_s`) and per running sequence per step (`seq_overhead_s`), on a
development subset chosen before scoring by a stated rule: half of the stack's mapped
rows, drawn by a seeded shuffle of their sorted ids (`SPLIT_SEED`); the other half is
scored only. The model time of a static batch is linear in both host times (one per
step, one per sequence per step), so three model runs per row give its time at any
pair; the pair minimises sum(log(model time / measured time))^2 over the subset, then
one more model run checks it. Measured time: the model's tokens / measured tokens per s.
"""

from __future__ import annotations

import random
from math import exp, log

from tigris.hardware.stacks import ANY_SOURCE, StackProfile, default_stack_id, load_stack
from tigris.validate.power import PowerRow
from tigris.validate.stack_fit import POWER_FIT_STACKS, FitRecord

SPLIT_SEED = 17  # stated before scoring; the split is recorded in the stack YAML
FITTER = "tigris.validate.stack_fit_power.fit_host_times"
RULE = "half of the stack's scored power rows, seeded shuffle of sorted ids (SPLIT_SEED 17)"
PROBE_STEP_S, PROBE_SEQ_S = 1e-3, 1e-4
HOST_TIMES = ("step_overhead_s", "seq_overhead_s")


def power_row_stack(raw: dict[str, str]) -> str:
    """The stack id a power.csv row ran under (see the module docstring)."""
    source, system = raw["source"], raw.get("system_name", "")
    if source.startswith("ML.ENERGY Leaderboard v3"):
        return "vllm-server"
    if source.startswith("ML.ENERGY Leaderboard v2"):
        return "vllm-v0-server"
    if "vLLM" in system and source.startswith("Argonne"):
        return "vllm-v0"
    if "TensorRT" in system:
        return "trtllm"
    return _chip_default(raw)


def _chip_default(raw: dict[str, str]) -> str:
    from tigris.hardware.presets import load_chip
    from tigris.validate.hardware_names import chip_for_hardware

    chip_id = chip_for_hardware(raw["hardware"])
    return default_stack_id(load_chip(chip_id)) if chip_id else "native"


def row_power_profile(row: PowerRow, left_out: str | None = None) -> StackProfile:
    """The row's stack; `left_out` (a source, or ANY_SOURCE): values fitted on it at
    their priors (how the row is scored held out)."""
    profile = load_stack(power_row_stack(row.raw))
    return profile.without_fits_from(left_out) if left_out is not None else profile


def development_power_rows(stack_id: str, rows: list[PowerRow]) -> list[PowerRow]:
    """The stack's fit rows: half of its scored rows (mapped, and the model runs them)
    by the seeded split (RULE)."""
    prior = load_stack(stack_id).without_fits_from(ANY_SOURCE)
    own = sorted(
        (r for r in rows if power_row_stack(r.raw) == stack_id and _runs(r, prior)),
        key=lambda r: r.row_id,
    )
    order = list(range(len(own)))
    random.Random(SPLIT_SEED).shuffle(order)
    chosen = set(order[: (len(own) + 1) // 2])
    return [r for n, r in enumerate(own) if n in chosen]


def _runs(row: PowerRow, profile: StackProfile) -> bool:
    """Whether the row is mapped and the model runs its setup (the rows scored)."""
    from tigris.errors import TigrisError

    if row.setup is None:
        return False
    try:
        _times(row, profile)
    except TigrisError:
        return False
    return True


def _times(row: PowerRow, profile: StackProfile) -> float:
    from tigris.validate.power_predict import model_row

    assert row.setup is not None
    return model_row(row.setup, row.row_id, profile).time_s


def _measured_s(row: PowerRow, profile: StackProfile) -> float:
    from tigris.validate.power_predict import model_row

    assert row.setup is not None
    return model_row(row.setup, row.row_id, profile).tokens / row.measured_tokens_per_s


def _solve(base: list[float], per_step: list[float], per_seq: list[float], target: list[float]):
    """(step_s, seq_s) >= 0 minimising sum(log((b + x s + y q) / t))^2."""
    import numpy as np
    from scipy.optimize import least_squares

    b, s, q, t = (np.array(v) for v in (base, per_step, per_seq, target))

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log((b + x[0] * s + x[1] * q) / t)

    found = least_squares(residuals, x0=[1e-3, 1e-4], bounds=([0.0, 0.0], [1.0, 1.0]),
                          x_scale=[1e-2, 1e-4])  # fmt: skip
    return float(found.x[0]), float(found.x[1])


def fit_host_times(stack_id: str, rows: list[PowerRow]) -> tuple[FitRecord, FitRecord]:
    """The stack's step and sequence host times on its development power rows."""
    if stack_id not in POWER_FIT_STACKS:
        raise ValueError(f"stack {stack_id!r} is not fitted on power rows")
    dev = development_power_rows(stack_id, rows)
    if not dev:
        raise ValueError(f"no development rows for stack {stack_id!r}")
    prior = load_stack(stack_id).without_fits_from(ANY_SOURCE)
    base = [_times(r, prior) for r in dev]
    step = prior.with_values(step_overhead_s=prior.step_overhead_s + PROBE_STEP_S)
    seq = prior.with_values(seq_overhead_s=prior.seq_overhead_s + PROBE_SEQ_S)
    per_step = [(_times(r, step) - t) / PROBE_STEP_S for r, t in zip(dev, base, strict=True)]
    per_seq = [(_times(r, seq) - t) / PROBE_SEQ_S for r, t in zip(dev, base, strict=True)]
    target = [_measured_s(r, prior) for r in dev]
    step_s, seq_s = _solve(base, per_step, per_seq, target)
    fitted = prior.with_values(step_overhead_s=step_s, seq_overhead_s=seq_s)
    before = _mean_log(dev, prior, target)
    after = _mean_log(dev, fitted, target)
    sources = sorted({r.source for r in dev})
    records = tuple(
        FitRecord(
            stack=stack_id,
            name=name,
            value=value,
            prior=getattr(prior, name),
            source=" | ".join(sources),
            rows=tuple(r.row_id for r in dev),
            mean_log_ratio_before=-before,
            mean_log_ratio_after=-after,
            fitter=FITTER,
            rule=RULE,
        )  # fmt: skip
        for name, value in zip(HOST_TIMES, (step_s, seq_s), strict=True)
    )
    return records[0], records[1]


def _mean_log(rows: list[PowerRow], profile: StackProfile, target: list[float]) -> float:
    """mean log(model time / measured time); its negative: the log bias of tokens/s."""
    ratios = [log(_times(r, profile) / t) for r, t in zip(rows, target, strict=True)]
    return sum(ratios) / len(ratios)


def bias_pct(mean_log: float) -> float:
    """A mean log time ratio as the tokens/s bias in percent."""
    return 100 * (exp(-mean_log) - 1)
