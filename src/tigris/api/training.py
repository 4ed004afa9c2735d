"""`train`: the best parallel plans for one training step of a model on chips
(`tigris train`): the plan search of tigris.parallel, with its arguments checked."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.api.inputs import check_choice, check_int, resolve_chip, resolve_model, resolve_system
from tigris.errors import SpecError

if TYPE_CHECKING:
    from tigris.hardware.chip import Chip
    from tigris.hardware.system import Cluster
    from tigris.parallel.goodput import GoodputOptions
    from tigris.parallel.search import SearchResult
    from tigris.parallel.step import StepResult
    from tigris.workload.spec import TransformerSpec

MAX_GLOBAL_BATCH = 2**24
MAX_SEQ_LEN = 2**34
RECOMPUTE_CHOICES = ("none", "selective", "full")
TRAIN_DTYPES = ("bf16", "fp8")
EP_ALL_TO_ALL = ("nccl", "deepep")


@dataclass(frozen=True)
class TrainResult:
    """A plan search: what was asked (model, chip, system, chips, batch, sequence, dtype,
    token budget) and what tigris.parallel found (`search`: the best plans, and how many
    plans were searched, valid and fitting)."""

    model: TransformerSpec
    chip: Chip
    system: Cluster
    num_chips: int
    global_batch: int
    seq_len: int
    dtype: str
    tokens: float | None
    search: SearchResult
    power_cap_w: float | None = None
    goodput: GoodputOptions | None = None  # `--goodput`: adds the "goodput" object

    @property
    def best(self) -> StepResult:
        return self.search.best

    @property
    def top(self) -> tuple[StepResult, ...]:
        return self.search.top

    def to_dict(self) -> dict[str, object]:
        """What `tigris train --json` prints: the best plan's step, then the search."""
        found = self.search
        data = self.best.to_dict(self.tokens) | {
            "model": self.model.name,
            "chip": self.chip.id,
            "system": self.system.id,
            "plans_searched": found.num_searched,
            "plans_valid": found.num_valid,
            "plans_fit": found.num_fit,
            "top": [
                {"plan": r.plan.as_dict(), "step_time_s": r.step_time_s, "mfu": r.mfu}
                for r in found.top
            ],
        }
        data |= self._power(data)
        data["interval"] = self._interval()
        data |= _finetune_keys(self.model)
        if self.goodput is not None:
            data["goodput"] = self._goodput(data)
        return data

    def _goodput(self, data: dict[str, object]) -> dict[str, object]:
        """tigris.parallel.goodput's figures for the best plan, from the (capped) time to
        train and energy per token in `data`."""
        from tigris.parallel.goodput import train_goodput

        per_token = {"energy_j": "energy_per_token_j",
                     "energy_facility_j": "energy_per_token_facility_j"}  # fmt: skip
        energy = {key: data[name] * self.tokens for key, name in per_token.items()}  # type: ignore[operator]
        chips_per_host = self.system.node.chips_per_node
        solve_s = data["time_to_train_s"]
        return train_goodput(self.best, self.model, chips_per_host, solve_s, energy, self.goodput)  # type: ignore[arg-type]

    def _interval(self) -> dict[str, object] | None:
        """The 80 % band of the best plan's step time from held-out training rows."""
        from tigris.report.prediction_bands import chip_band

        return chip_band("train", self.best.step_time_s, self.chip, metric="step_time_s",
                         precision=self.dtype)  # fmt: skip

    def _power(self, data: dict[str, object]) -> dict[str, object]:
        """Power and energy per token of the best plan's step (tigris.cost.power_report;
        a power cap is already in the step's times: the step model ran the capped chip)."""
        from tigris.cost.power_report import report_power
        from tigris.cost.workload_activity import training_activity

        best = self.best
        report = report_power(self.chip, training_activity(best, self.dtype, self.chip),
                              tokens=best.tokens_per_step, num_chips=self.num_chips)  # fmt: skip
        return report.to_dict()


def train(
    model: str | Path | TransformerSpec,
    *,
    chip: str | Path | Chip,
    num_chips: int,
    global_batch: int,
    seq_len: int,
    system: str | Path | Cluster | None = None,
    tp: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    cp: int | None = None,
    ep: int | None = None,
    micro_batch: int | None = None,
    virtual_stages: int | None = None,
    recompute: str | None = None,
    zero: int | None = None,
    sequence_parallel: bool | None = None,
    dtype: str = "bf16",
    tokens: float | None = None,
    top: int = 5,
    power_cap: str | float | None = None,
    goodput: bool = False,
    storage_gbps: float | None = None,
    checkpoint_interval_s: float | None = None,
    pp_layers: str | tuple[int, ...] | None = None,
    pp_schedule: str | None = None,
    moe_imbalance: float | None = None,
    ep_all_to_all: str = "nccl",
    finetune: str = "full",
    lora_rank: int | None = None,
    lora_targets: str | tuple[str, ...] | None = None,
    sft_doc_len: int | None = None,
    stack: str | None = None,
    fp8_scaling: str = "tensor",
) -> TrainResult:
    """Search the parallel plans of one training step of `global_batch` sequences of
    `seq_len` tokens on `num_chips` chips (on `system`, default: the chip's), holding
    every plan option given; `tokens` adds the time to train that many tokens; `top`
    plans are kept; `power_cap` ('450 W') caps each chip's power (MaxQ-style: the step
    slows by the cap's throttling). `goodput` (needs `tokens`) adds the expected wall time
    with failures and checkpoints (tigris.parallel.goodput): `storage_gbps` the aggregate
    storage bandwidth in GB/s, `checkpoint_interval_s` the compute between saves (default
    Daly's optimum). `pp_layers` ('7,8,8,7' or a tuple) fixes the layers of each
    pipeline stage (pp = its length); `pp_schedule` ('1f1b', 'interleaved', 'dualpipe')
    fixes the pipeline schedule (tigris.parallel.pipeline; default: 1F1B, interleaved
    where the search picks v > 1). `moe_imbalance`: the busiest expert-parallel rank's
    routed tokens / the mean (default 1: no published training measurement; serving uses
    tigris.workload.moe.DEFAULT_MOE_IMBALANCE). `ep_all_to_all` ('nccl', 'deepep'):
    the expert exchange through NCCL's all-to-all or DeepSeek's DeepEP kernels (FP8
    dispatch, one copy per remote node; tigris.workload.moe.deepep_exchange_s).
    `finetune` ('full', 'lora', 'sft'; tigris.workload.finetune) with `lora_rank`,
    `lora_targets` ('qkv,o') and `sft_doc_len` times a fine-tuning step instead.
    `fp8_scaling` ('tensor', 'block': DeepSeek-V3's 1x128 / 128x128 blocks) prices the
    fp8 GEMMs' scaling (tigris.parallel.sharded_step.block_scale).
    InfeasibleError when no plan fits."""
    from tigris.cost.power_report import parse_power_cap
    from tigris.cost.power_scope import apply_power_cap
    from tigris.parallel.search import search_plans
    from tigris.parallel.step import TrainSetup

    layout = {"tp": tp, "pp": pp, "dp": dp, "cp": cp, "ep": ep}
    layout |= {"micro_batch": micro_batch, "virtual_stages": virtual_stages}
    _check_sizes(num_chips, global_batch, seq_len, top, layout, zero)
    _check_choices(recompute, dtype, tokens)
    check_choice(ep_all_to_all, EP_ALL_TO_ALL, "--ep-all-to-all")
    if moe_imbalance is not None:
        from tigris.workload.moe import check_imbalance

        check_imbalance(moe_imbalance)
    options = _goodput_options(goodput, tokens, storage_gbps, checkpoint_interval_s)
    cap_w = parse_power_cap(power_cap)
    spec = resolve_model(model)
    spec, zero = _finetuned(spec, seq_len, zero, finetune, lora_rank, lora_targets, sft_doc_len)
    from tigris.hardware.stacks import apply_stack

    chip_spec = apply_stack(stack, resolve_chip(chip), "training")[0]  # its kernels' efficiency
    chip_spec = apply_power_cap(chip_spec, cap_w)  # the step model runs under it
    chip_spec.peak_flop_per_s(dtype)  # UnsupportedError (exit 2) without that path
    cluster = resolve_system(system, chip_spec)
    fixed = layout | {"recompute": recompute, "zero": zero}
    fixed |= {"sequence_parallel": sequence_parallel, "dtype": dtype}
    fixed |= _pipeline_split(pp_layers, pp, spec.num_layers)
    fixed |= {"pp_schedule": _pipeline_schedule(pp_schedule)}
    _check_layout(fixed, num_chips, global_batch)
    from tigris.workload.precision import training_precision  # loads pydantic: not at --help

    precision = training_precision(fp8_scaling, dtype)
    setup = TrainSetup(spec, chip_spec, cluster, num_chips, global_batch, seq_len,
                       precision=precision)  # fmt: skip
    if moe_imbalance is not None:
        setup = replace(setup, moe_imbalance=moe_imbalance)
    setup = replace(setup, ep_all_to_all=ep_all_to_all)
    found = search_plans(setup, fixed, top_k=top)
    return TrainResult(
        spec, chip_spec, cluster, num_chips, global_batch, seq_len, dtype, tokens, found, cap_w,
        options,
    )  # fmt: skip


def _finetuned(
    spec: TransformerSpec,
    seq_len: int,
    zero: int | None,
    mode: str,
    lora_rank: int | None,
    lora_targets: str | tuple[str, ...] | None,
    sft_doc_len: int | None,
) -> tuple[TransformerSpec, int | None]:
    """The spec fine-tuned as the options say (the very spec for full training), and the
    ZeRO stage: LoRA runs ZeRO 0 unless told (its optimizer state is the adapters', and
    ZeRO-3's gathers of frozen weights are not modelled: --zero 3 is refused)."""
    from tigris.workload.finetune import make_finetune, with_finetune

    finetune = make_finetune(mode, seq_len, lora_rank, lora_targets, sft_doc_len)
    if finetune.mode == "lora":
        if zero == 3:
            raise SpecError(
                "ZeRO-3 with --finetune lora is not modelled (frozen weights' gathers)",
                key_path="--zero",
                hint="use --zero 0, 1 or 2",
            )
        zero = 0 if zero is None else zero
    return with_finetune(spec, finetune), zero


def _finetune_keys(spec: TransformerSpec) -> dict[str, object]:
    """--json's 'finetune' object (none for full training: the output is unchanged):
    the mode, its options and the trainable parameters."""
    from tigris.workload.finetune import finetune_of, trainable_layer_params

    finetune = finetune_of(spec)
    if finetune is None:
        return {}
    kinds = spec.layer_kinds()
    adapters = [trainable_layer_params(spec, kind) for kind, _ in kinds]
    if adapters[0] is None:
        trainable = spec.param_count().total
    else:
        pairs = zip(kinds, adapters, strict=True)
        trainable = sum(count * (size or 0) for (_, count), size in pairs)
    return {"finetune": finetune.as_dict() | {"trainable_params": trainable}}


def _pipeline_schedule(pp_schedule: str | None) -> str | None:
    """The named schedule, or SpecError naming --pp-schedule."""
    from tigris.parallel.pipeline import PipelineSchedule

    if pp_schedule is None or pp_schedule in PipelineSchedule.__members__.values():
        return pp_schedule
    shown = pp_schedule if len(pp_schedule) <= 20 else pp_schedule[:20] + "..."
    raise SpecError(
        f"unknown pipeline schedule {shown!r}",
        key_path="--pp-schedule",
        hint="one of 1f1b, interleaved, dualpipe",
    )


def _pipeline_split(
    pp_layers: str | tuple[int, ...] | None, pp: int | None, num_layers: int
) -> dict[str, object]:
    """The fixed pp and pp_layers of an explicit split (SpecError naming --pp-layers
    unless it gives each of pp stages at least one of the layers)."""
    from tigris.parallel.stages import check_pp_layers, parse_pp_layers

    counts = parse_pp_layers(pp_layers) if isinstance(pp_layers, str) else pp_layers
    if counts is None:
        return {}
    counts = tuple(counts)
    check_pp_layers(counts, pp, num_layers)
    return {"pp": len(counts), "pp_layers": counts}


def _check_sizes(
    num_chips: int,
    global_batch: int,
    seq_len: int,
    top: int,
    layout: dict[str, int | None],
    zero: int | None,
) -> None:
    """The ranges `tigris train`'s options take."""
    check_int("--num-chips", num_chips)
    check_int("--global-batch", global_batch, 1, MAX_GLOBAL_BATCH)
    check_int("--seq-len", seq_len, 1, MAX_SEQ_LEN)
    check_int("--top", top)
    for key, value in layout.items():
        if value is not None:
            check_int(f"--{key.replace('_', '-')}", value)
    if zero is not None:
        check_int("--zero", zero, 0, 3)


def _check_choices(recompute: str | None, dtype: str, tokens: float | None) -> None:
    if recompute is not None:
        check_choice(recompute, RECOMPUTE_CHOICES, "--recompute")
    check_choice(dtype, TRAIN_DTYPES, "--dtype")
    if tokens is not None and not 0 < tokens < math.inf:
        raise SpecError(f"must be a positive number of tokens, got {tokens:g}", key_path="--tokens")


def _goodput_options(
    goodput: bool, tokens: float | None, storage_gbps: float | None, interval_s: float | None
) -> GoodputOptions | None:
    """--goodput's options, checked: positive finite numbers, and only with --goodput
    (which needs --tokens)."""
    given = {"--storage-gbps": storage_gbps, "--checkpoint-interval-s": interval_s}
    for option, value in given.items():
        if value is None:
            continue
        if not goodput:
            raise SpecError("applies only with --goodput", key_path=option)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not 0 < value < math.inf:
            raise SpecError(f"must be a positive number, got {str(value)[:30]}", key_path=option)
    if not goodput:
        return None
    if tokens is None:
        raise SpecError("needs --tokens (the run's token budget)", key_path="--goodput")
    from tigris.parallel.goodput import GoodputOptions  # loaded only for --goodput

    return GoodputOptions(storage_gbps, interval_s)


def _check_layout(fixed: dict[str, object], num_chips: int, global_batch: int) -> None:
    """A fully fixed tp x pp x dp (x cp) must use every chip, and dp must divide the
    batch (said here, naming the option, rather than as 'no plan found')."""
    tp, pp, dp, cp = (fixed[key] for key in ("tp", "pp", "dp", "cp"))
    if tp is not None and pp is not None and dp is not None:
        product = tp * pp * dp * (cp or 1)
        if product != num_chips:
            raise SpecError(
                f"tp x pp x dp x cp = {product}, not the {num_chips} chips", key_path="--num-chips"
            )
    if global_batch % (dp or 1):
        raise SpecError(
            f"global batch {global_batch} is not a multiple of dp={dp}", key_path="--global-batch"
        )
