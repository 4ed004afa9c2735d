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


# MoE workloads, run when named (`--workload serve-deepseek-r1`), not by default: each is a
# 671B-parameter model, and the default set keeps its run time and its baseline figures.
#
# serve-deepseek-r1: DeepSeek-R1 reasoning, 1,024 prompt / 8,192 output tokens, the "1k/8k"
# reasoning sequence of SemiAnalysis InferenceMAX's DeepSeek-R1-0528 runs
# (github.com/InferenceMAX/InferenceMAX, .github/configs/nvidia-master.yaml, the
# dsr1-fp8-* configs' seq-len-configs isl 1024 / osl 8192), in fp8 as DeepSeek ships the
# weights (config.json quantization_config: fp8 e4m3, 128 x 128 blocks; InferenceMAX's
# precision fp8), on one 8-GPU server as those runs and MLPerf's submissions use. SLOs:
# MLPerf Inference's deepseek-r1 server scenario, TTFT 2 s and TPOT 80 ms
# (mlcommons/inference loadgen/mlperf.conf: deepseek-r1.Server.ttft_latency = 2000,
# tpot_latency = 80). The workload's one dtype also makes activations and the KV cache fp8.
#
# train-deepseek-v3: DeepSeek-V3 pre-training as its report states (DeepSeek-AI 2024,
# arXiv:2412.19437): 2,048 GPUs (sec. 3.1), sequences of 4K tokens and a batch ramped to
# 15,360 sequences, its value for most of the run (sec. 4.2), 14.8T tokens (sec. 4.2), FP8
# mixed precision (sec. 3.3). The plan is searched, not fixed to the report's pp 16 x ep 64
# with DualPipe, so that each chip gets its own best layout.
MOE_WORKLOADS: tuple[Workload, ...] = (
    ServeWorkload(
        name="serve-deepseek-r1",
        model="deepseek-r1",
        num_chips=8,
        dtype="fp8",
        input_len=1024,
        output_len=8192,
        slo_ttft=2.0,
        slo_tpot=0.080,
    ),
    TrainWorkload(
        name="train-deepseek-v3",
        model="deepseek-v3",
        num_chips=2048,
        dtype="fp8",
        global_batch=15360,
        seq_len=4096,
        tokens=14.8e12,
    ),
)

# every workload `--workload NAME` accepts (cli/compare.py's --help lists these names)
NAMED_WORKLOADS: tuple[Workload, ...] = DEFAULT_WORKLOADS + MOE_WORKLOADS


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
    """A named workload (the defaults and the MoE ones), or a YAML file."""
    for workload in NAMED_WORKLOADS:
        if workload.name == name:
            return workload
    if Path(name).is_file():
        return load_workload(name)
    known = ", ".join(w.name for w in NAMED_WORKLOADS)
    raise SpecError(
        f"no workload or file named {name!r}",
        key_path="--workload",
        hint=f"one of {known}, or a YAML file",
    )
