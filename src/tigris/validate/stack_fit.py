"""Which stack each inference row ran, and the fit of a stack's few constants on named rows.

Row -> stack (`row_stack`), from the row's source and its notes' `framework=`:
- NVIDIA/TensorRT-LLM performance tables -> their release's stack (trtllm-v0.6, trtllm-v0.9);
- MLPerf Inference: the submitter's framework; TensorRT -> trtllm, vLLM on ROCm ->
  vllm-rocm, or vllm-rocm-v0 for vLLM before 0.6 (the V0 engine: AMD's v4.1 submission,
  vLLM 0.4.3+rocm614), vLLM on CUDA -> vllm;
- LLMCompass (single ops timed from eager PyTorch) -> pytorch-eager, a label: its host
  paths are modelled by tigris.validate.infer_llmcompass, no profile applies;
- anything else: the chip's default stack (tigris.hardware.stacks.default_stack_id).

The fit (`fit_step_overhead`): one constant, a stack's host time per engine step, on a
development subset chosen before scoring by a stated rule (`DEVELOPMENT_SUBMITTERS`: the
rows the stack's own developer submitted; every other row of the stack is scored only).
The value solves mean(log(predicted / measured)) = 0 over the subset (secant steps; the
throughput falls monotonically as the overhead grows). Its record (`FitRecord.to_yaml`)
names the fitter, the source and the rows, and the prior a held-out score goes back to:
under `--holdout source` a row whose source the constant was fitted on is re-predicted
with the prior (tigris.hardware.stacks.StackProfile.without_fits_from).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from math import exp, log

from tigris.hardware.stacks import StackProfile, default_stack_id, load_stack

# Rule, stated before scoring: a stack's constants are fitted on the rows its developer
# submitted (AMD ran vLLM-ROCm in MLPerf v4.1); partners' rows of the same stack
# (e.g. Dell's XE9680 MI300X) are scored, never fitted.
DEVELOPMENT_SUBMITTERS = {"vllm-rocm-v0": ("AMD",)}
# Stacks whose host times are fitted on power.csv rows (tigris.validate.stack_fit_power)
POWER_FIT_STACKS = ("vllm-v0", "vllm-v0-server", "vllm-server")
LABEL_ONLY = "pytorch-eager"
VLLM_V1_MINOR = 6  # vLLM 0.6 brought multi-step scheduling; V0's serial host work before it
SECANT_STEPS = 8
TOLERANCE = 1e-3  # on the mean log ratio: 0.1 %


def _framework(row: dict[str, str]) -> str:
    found = re.search(r"framework=([^;]+)", row.get("notes", ""))
    return found.group(1) if found else ""


def _vllm_stack(framework: str) -> str:
    version = re.search(r"vLLM (\d+)\.(\d+)", framework)
    old = version is not None and (int(version.group(1)), int(version.group(2))) < (
        0,
        VLLM_V1_MINOR,
    )
    if "rocm" in framework.lower():
        return "vllm-rocm-v0" if old else "vllm-rocm"
    return "vllm"


# The TensorRT-LLM release each performance table was measured with, as a stack of its own
# (catalog/stacks/<id>.yaml: that release's decode-attention and expert-GEMM kernels). The
# packaged rows are the v0.6.1 tables ("updated for v0.6.1"); data/measured-moe.csv adds
# the v0.9.0 ones.
TRTLLM_RELEASE_STACKS = {"version 0.9.0": "trtllm-v0.9"}
TRTLLM_TABLE_DEFAULT_STACK = "trtllm-v0.6"


def row_stack(row: dict[str, str]) -> str:
    """The stack id a measured row ran under (see the module docstring)."""
    source = row["source"]
    if source.startswith("NVIDIA/TensorRT-LLM"):
        releases = (s for r, s in TRTLLM_RELEASE_STACKS.items() if r in source)
        return next(releases, TRTLLM_TABLE_DEFAULT_STACK)
    if "LLMCompass" in source:
        return LABEL_ONLY
    framework = _framework(row)
    if "vLLM" in framework:
        return _vllm_stack(framework)
    if "TensorRT" in framework:
        return "trtllm"
    from tigris.hardware.presets import load_chip
    from tigris.validate.hardware_names import chip_for_hardware

    chip_id = chip_for_hardware(row["hardware"])
    return default_stack_id(load_chip(chip_id)) if chip_id else "native"


def row_profile(row: dict[str, str], left_out_source: str | None = None) -> StackProfile | None:
    """The row's stack profile, None when it changes nothing (the chip as calibrated);
    with `left_out_source`, values fitted on that source go back to their priors."""
    name = row_stack(row)
    if name == LABEL_ONLY:
        return None
    profile = load_stack(name)
    if left_out_source is not None:
        profile = profile.without_fits_from(left_out_source)
    return None if profile.is_identity else profile


def fitted_on_source(row: dict[str, str], source: str) -> bool:
    """Whether the row's stack has a value fitted on `source`'s rows."""
    return row_profile(row) != row_profile(row, source)


def is_fit_row(row: dict[str, str]) -> bool:
    """Whether a constant of the row's stack was fitted on this row."""
    name = row_stack(row)
    if name == LABEL_ONLY:
        return False
    fitted = load_stack(name).fitted.values()
    return any(row["id"] in record.get("rows", ()) for record in fitted)


def _submitter(row: dict[str, str]) -> str:
    found = re.search(r"submitter=([^;]+)", row.get("notes", ""))
    return found.group(1).strip() if found else ""


def development_rows(stack_id: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The stack's rows its developer submitted (DEVELOPMENT_SUBMITTERS)."""
    developers = DEVELOPMENT_SUBMITTERS.get(stack_id, ())
    return [r for r in rows if row_stack(r) == stack_id and _submitter(r) in developers]


@dataclass(frozen=True)
class FitRecord:
    """One fitted constant: its value, the rows and the bias before and after."""

    stack: str
    name: str
    value: float
    prior: float
    source: str
    rows: tuple[str, ...]
    mean_log_ratio_before: float
    mean_log_ratio_after: float
    fitter: str = "tigris.validate.stack_fit.fit_step_overhead"
    rule: str = "rows submitted by the stack's developer (DEVELOPMENT_SUBMITTERS)"

    def to_yaml(self) -> dict[str, object]:
        return {
            "value": self.value,
            "prior": self.prior,
            "fitter": self.fitter,
            "source": self.source,
            "rule": self.rule,
            "rows": list(self.rows),
            "bias_before_pct": 100 * (exp(self.mean_log_ratio_before) - 1),
            "bias_after_pct": 100 * (exp(self.mean_log_ratio_after) - 1),
        }


def _bias(rows: list[dict[str, str]], profile: StackProfile) -> float:
    """mean log(predicted / measured) of the rows under the profile."""
    from tigris.validate.infer import evaluate_row

    ratios = []
    for row in rows:
        result = evaluate_row(row, None, stack=profile)
        if result.predicted is None:
            raise ValueError(f"fit row {row['id']} was not predicted: {result.skipped}")
        ratios.append(log(result.predicted / result.measured))
    return sum(ratios) / len(ratios)


def fit_step_overhead(
    stack_id: str,
    rows: list[dict[str, str]],
    progress: Callable[[int, int], None] | None = None,
) -> FitRecord:
    """The stack's step_overhead_s that leaves no mean bias on its development rows."""
    from tigris.validate.infer import source_family

    dev = development_rows(stack_id, rows)
    if not dev:
        raise ValueError(f"no development rows for stack {stack_id!r}")
    base = load_stack(stack_id)
    prior = base.fitted.get("step_overhead_s", {}).get("prior", 0.0)
    x0, f0 = prior, _bias(dev, base.with_values(step_overhead_s=prior))
    x1 = prior + 2e-3
    f1 = _bias(dev, base.with_values(step_overhead_s=x1))
    for step in range(SECANT_STEPS):
        if progress is not None:
            progress(step, SECANT_STEPS)
        if abs(f1) < TOLERANCE or f1 == f0:
            break
        x0, f0, x1 = x1, f1, max(0.0, x1 - f1 * (x1 - x0) / (f1 - f0))
        f1 = _bias(dev, base.with_values(step_overhead_s=x1))
    return FitRecord(
        stack=stack_id,
        name="step_overhead_s",
        value=x1,
        prior=prior,
        source=source_family(dev[0]),
        rows=tuple(r["id"] for r in dev),
        mean_log_ratio_before=_bias(dev, base.with_values(step_overhead_s=prior)),
        mean_log_ratio_after=f1,
    )


def main(argv: list[str]) -> None:
    """`python -m tigris.validate.stack_fit STACK`: the fit record(s) as JSON (a stack
    fitted on power rows, POWER_FIT_STACKS: both host times)."""
    import json

    if argv[0] in POWER_FIT_STACKS:
        from tigris.validate.power import read_power_rows
        from tigris.validate.stack_fit_power import fit_host_times

        records = fit_host_times(argv[0], read_power_rows())
        print(json.dumps({r.name: r.to_yaml() for r in records}, indent=1))
        return
    from tigris.validate.infer import CATEGORIES
    from tigris.validate.measured import read_rows

    record = fit_step_overhead(argv[0], read_rows(CATEGORIES))
    print(json.dumps(record.to_yaml(), indent=1))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
