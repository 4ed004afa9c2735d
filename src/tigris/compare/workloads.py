"""WHAT `tigris compare` runs: training and serving workloads, the defaults, and YAML files.

A workload file is a small YAML mapping, for example

    kind: serve
    name: llama3-70b-chat
    model: llama3-70b
    num_chips: 8          # chips per deployment (replicas x tp)
    input_len: 1024
    output_len: 256
    slo_ttft: 2 s
    slo_tpot: 40 ms

or `kind: train` with `num_chips`, `global_batch`, `seq_len`, and optionally `plan` (plan
options held fixed in the search, e.g. `{tp: 8}`) and `tokens` (a token budget, for the
time, $ and MWh of a whole run).

Default search limits (stated so that a reader can judge the "best plan found"):
- training turns sequence parallelism on whenever tp > 1 (Megatron-LM's recommendation)
  unless the workload fixes tp or sequence_parallel, which halves the plans searched;
  everything else is searched (tp, pp, dp, cp, micro-batch, virtual stages,
  recomputation, ZeRO stage): see `tigris.compare.train.best_plan`;
- serving searches tp over the divisors of num_chips (the rest are replicas) and, for
  each, the batch: the largest that fits in memory and meets both SLOs.
"""

from __future__ import annotations

from math import prod
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tigris.errors import SpecError, shorten
from tigris.hardware.quantities import Duration
from tigris.io.loader import load_mapping, validate_spec

DEFAULT_CHIPS = ("h100-sxm", "h200-sxm", "b200", "tpu-v5p", "maia-100", "tigris-1")


class _Workload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(description="short label used in tables and the report")
    model: str = Field(description="model id (see `tigris models`) or a config.json path")
    num_chips: int = Field(
        gt=0, le=2**31 - 1, description="chips in the run (train) or per deployment"
    )
    dtype: Literal["bf16", "fp8"] = "bf16"
    also_on: tuple[str, ...] = Field(
        (), description="chips added for this workload when the chip list is the default"
    )


def _check_plan_fits(plan: dict[str, Any], num_chips: int, global_batch: int) -> None:
    """Fixed plan sizes that no plan of the run could have, seen when the file is read:
    otherwise every chip's cell says only that none of 0 plans was searched."""
    fixed = {key: plan[key] for key in ("tp", "pp", "dp", "cp") if key in plan}
    product = prod(fixed.values())
    if num_chips % product:
        sizes = " x ".join(f"{key} {value}" for key, value in fixed.items())
        raise ValueError(f"{shorten(sizes)} does not divide num_chips {num_chips}")
    if num_chips % plan.get("ep", 1):
        raise ValueError(f"ep {shorten(str(plan['ep']))} does not divide num_chips {num_chips}")
    per_step = plan.get("micro_batch", 1) * plan.get("dp", 1)
    if global_batch % per_step:
        raise ValueError(
            f"dp x micro_batch = {shorten(str(per_step))} does not divide global_batch "
            f"{global_batch}"
        )


class TrainWorkload(_Workload):
    """Train `model` on `num_chips` chips with the best parallel plan found."""

    kind: Literal["train"] = "train"
    # the bounds of `tigris train`'s --global-batch and --seq-len: beyond them a plan search
    # runs for minutes on numbers no run could have
    global_batch: int = Field(gt=0, le=2**24, description="sequences per step")
    seq_len: int = Field(gt=0, le=2**34, description="tokens per sequence")
    plan: dict[str, Any] = Field(
        default_factory=dict,
        description="plan options held fixed in the search (tp, pp, dp, cp, ep, micro_batch, "
        "virtual_stages, recompute, zero, sequence_parallel)",
    )
    # allow_inf_nan: YAML reads '1e400' (no dot) as a string, which pydantic made infinite
    tokens: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="token budget of the whole run"
    )

    @field_validator("plan")
    @classmethod
    def _known_plan_options(cls, plan: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Checked here, when the file is read, not after the other chips' searches ran:
        each key a ParallelPlan option (dtype is the workload's own), each value valid."""
        from tigris.parallel.plan import ParallelPlan

        options = [name for name in ParallelPlan.model_fields if name != "dtype"]
        for key in plan:
            if key not in options:
                raise ValueError(f"unknown plan option {key!r} (one of {', '.join(options)})")
        try:
            valid = ParallelPlan.model_validate(plan)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None
        plan = {key: getattr(valid, key) for key in plan}  # '8' read as 8, as the search will
        if "num_chips" in info.data and "global_batch" in info.data:
            _check_plan_fits(plan, info.data["num_chips"], info.data["global_batch"])
        return plan

    def describe(self) -> str:
        return (
            f"train {self.model} on {self.num_chips} chips, batch {self.global_batch} x "
            f"{self.seq_len} tokens, {self.dtype}"
        )


class ServeWorkload(_Workload):
    """Serve `model` on deployments of `num_chips` chips under TTFT and TPOT SLOs."""

    kind: Literal["serve"] = "serve"
    input_len: int = Field(gt=0, le=2**34, description="prompt tokens")
    output_len: int = Field(gt=1, le=2**34, description="generated tokens")
    slo_ttft_s: Duration = Field(2.0, alias="slo_ttft", description="p99 time to first token")
    slo_tpot_s: Duration = Field(0.2, alias="slo_tpot", description="time per output token")

    @field_validator("slo_ttft_s", "slo_tpot_s")
    @classmethod
    def _positive_slo(cls, value: float) -> float:
        if value <= 0:  # no layout could meet it: each chip's cell would only say it missed
            raise ValueError(f"an SLO must be above zero, got {value:g} s")
        return value

    def describe(self) -> str:
        return (
            f"serve {self.model} on {self.num_chips} chip(s), {self.input_len} in / "
            f"{self.output_len} out, SLO TTFT <= {self.slo_ttft_s:g} s, "
            f"TPOT <= {self.slo_tpot_s * 1e3:g} ms"
        )


Workload = TrainWorkload | ServeWorkload

# Llama 3 70B pretraining used 4M-token batches (8192 x 512 in its later stage; Dubey et
# al. 2024, section 3.4.1); 1024 x 4096 keeps 4M tokens at the 4k context of its first stage.
# Serving SLOs: MLPerf Inference Llama-2-70B server scenario, TTFT 2 s and TPOT 200 ms;
# the 70B latency workload holds MLPerf v5.0's interactive TPOT of 40 ms (25 tokens/s/user).
DEFAULT_WORKLOADS: tuple[Workload, ...] = (
    TrainWorkload(
        name="train-70b",
        model="llama3-70b",
        num_chips=1024,
        global_batch=1024,
        seq_len=4096,
        tokens=15e12,
    ),
    ServeWorkload(
        name="serve-70b",
        model="llama3-70b",
        num_chips=8,
        input_len=1024,
        output_len=256,
        slo_ttft=2.0,
        slo_tpot=0.040,
    ),
    ServeWorkload(
        name="serve-8b",
        model="llama3-8b",
        num_chips=1,
        input_len=1024,
        output_len=256,
        slo_ttft=2.0,
        slo_tpot=0.2,
        also_on=("cobalt-100",),
    ),
)


def load_workload(path: str | Path) -> Workload:
    """A workload from a YAML file (see the module docstring); SpecError names the key."""
    file = Path(path)
    data = load_mapping(file)
    kind = data.get("kind")
    data = {"name": file.stem, **data}
    if kind == "train":
        return validate_spec(TrainWorkload, data, file=str(file))
    if kind == "serve":
        return validate_spec(ServeWorkload, data, file=str(file))
    raise SpecError(f"expected 'train' or 'serve', got {kind!r}", file=str(file), key_path="kind")


def resolve_workload(name: str) -> Workload:
    """A default workload by name, or a YAML file."""
    for workload in DEFAULT_WORKLOADS:
        if workload.name == name:
            return workload
    if Path(name).is_file():
        return load_workload(name)
    known = ", ".join(w.name for w in DEFAULT_WORKLOADS)
    raise SpecError(
        f"no workload or file named {name!r}",
        key_path="--workload",
        hint=f"one of {known}, or a YAML file",
    )
