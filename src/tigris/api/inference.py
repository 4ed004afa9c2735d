"""`infer`: latency, throughput and memory of one static batch (`tigris infer`): the
prompts prefilled in one step, then decoded together (tigris.serving.static_batch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.api.inputs import resolve_chip, resolve_model
from tigris.errors import InfeasibleError, SpecError

if TYPE_CHECKING:
    from tigris.hardware.chip import Chip
    from tigris.serving.deployment import Deployment
    from tigris.serving.static_batch import InferResult as StaticBatch
    from tigris.workload.spec import TransformerSpec


@dataclass(frozen=True)
class InferResult:
    """One static batch per replica: where it ran (`deployment`: model, chip, layout,
    dtypes) and what it took (`estimate`: TTFT, TPOT, throughput, memory per chip)."""

    deployment: Deployment
    estimate: StaticBatch
    power_cap_w: float | None = None

    def to_dict(self) -> dict[str, object]:
        """What `tigris infer --json` prints: the batch's figures, then its power and
        energy per output token (tigris.cost.power_report; a cap is already in the times:
        each op ran at the clock the cap allows it)."""
        from tigris.cost.power_report import report_power
        from tigris.cost.workload_activity import inference_activity

        data = self.estimate.to_dict()
        d, e = self.deployment, self.estimate
        activity = inference_activity(d, e.batch, e.input_len, e.output_len, e.e2e_latency_s)
        report = report_power(d.chip, activity, tokens=e.batch * e.output_len,
                              num_chips=d.num_chips // d.num_replicas)  # fmt: skip
        return data | report.to_dict() | {"interval": self._interval()}

    def _interval(self) -> dict[str, object] | None:
        """The 80 % band of the throughput from held-out inference rows."""
        from tigris.report.prediction_bands import chip_band

        e = self.estimate
        return chip_band("infer", e.throughput_tokens_per_s, self.deployment.chip,
                         metric="throughput_tokens_per_s", precision=e.weight_dtype, rate=True)  # fmt: skip


def infer(
    model: str | Path | TransformerSpec,
    *,
    chip: str | Path | Chip,
    num_chips: int = 1,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    batch: int = 1,
    input_len: int = 512,
    output_len: int = 128,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    compute_dtype: str = "bf16",
    power_cap: str | float | None = None,
    speculative: str | None = None,
    stack: str | None = None,
) -> InferResult:
    """Serve `batch` prompts of `input_len` tokens per replica, each generating
    `output_len` tokens, on `num_chips` chips split into replicas of tp x ep x pp
    (tp default: every chip of a replica); `power_cap` ('450 W') caps each chip's power;
    `speculative` ('draft=MODEL,tokens=K,acceptance=A' or 'mtp,tokens=K,acceptance=A'):
    speculative decoding (tigris.serving.speculative). InfeasibleError when the batch
    does not fit. `stack`: the software stack (tigris.hardware.stacks; default: the
    chip's, as calibrated)."""
    from tigris.cost.power_report import parse_power_cap
    from tigris.cost.power_scope import apply_power_cap
    from tigris.hardware.stacks import apply_stack
    from tigris.serving.deployment import build_deployment
    from tigris.serving.static_batch import infer as estimate_static_batch

    cap_w = parse_power_cap(power_cap)
    chip_spec, stack_settings = apply_stack(stack, resolve_chip(chip), "serving")
    deployment = build_deployment(
        resolve_model(model),
        apply_power_cap(chip_spec, cap_w),  # every op timed under the cap
        num_chips=num_chips,
        tp=tp,
        pp=pp,
        ep=ep,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        compute_dtype=compute_dtype,
        **stack_settings,
    )
    check_context(deployment, input_len, output_len)
    speculation = None
    if speculative is not None:  # the speculative module loads numpy: only when asked
        from tigris.serving.speculative import build_speculation

        speculation = build_speculation(speculative, deployment)
    estimate = estimate_static_batch(
        deployment, batch, input_len, output_len, speculation=speculation
    )
    if speculation is not None:
        estimate = _with_baseline(estimate, deployment)
    if not estimate.fits:
        refuse_unfit(estimate, batch, deployment.chip.dram_capacity_bytes)
    return InferResult(deployment, estimate, cap_w)


def _with_baseline(estimate: StaticBatch, deployment: Deployment) -> StaticBatch:
    """The speculative estimate with the same batch's figures without speculation."""
    from dataclasses import replace

    from tigris.serving.static_batch import infer as estimate_static_batch

    e = estimate
    plain = estimate_static_batch(deployment, e.batch, e.input_len, e.output_len)
    baseline = {
        "tpot_without_speculation_s": plain.tpot_s,
        "throughput_tokens_per_s_without_speculation": plain.throughput_tokens_per_s,
        "speedup": e.throughput_tokens_per_s / plain.throughput_tokens_per_s,
    }
    return replace(e, speculative=e.speculative | baseline)  # type: ignore[operator]


def check_context(deployment: Deployment, input_len: int, output_len: int) -> None:
    """Prompt and output must fit the model's context window (its position embeddings):
    a model cannot attend past it, so a longer request is a mistake, not a workload."""
    window = deployment.model.max_position_embeddings
    if input_len + output_len > window:
        raise SpecError(
            f"{input_len} + {output_len} tokens exceed {deployment.model.name}'s context window "
            f"of {window} tokens (max_position_embeddings)",
            key_path="--input-len",
            hint="shorten the request, or use a model config with a longer context",
        )


def refuse_unfit(estimate: StaticBatch, batch: int, capacity_bytes: float) -> None:
    """A batch that does not fit is an infeasible design (`serve` refuses the same case):
    its latencies would be numbers for a machine that cannot run it."""
    if estimate.max_batch >= 1:
        raise InfeasibleError(
            f"batch {batch} does not fit in {capacity_bytes / 1e9:.0f} GB per chip "
            f"({estimate.memory_per_chip_bytes / 1e9:.1f} GB needed); the largest batch that "
            f"fits is {estimate.max_batch}"
        )
    raise InfeasibleError(
        f"{estimate.model} does not fit on {estimate.num_chips} x {estimate.chip}: "
        f"{estimate.weights_per_chip_bytes / 1e9:.1f} GB of weights per chip, "
        f"{capacity_bytes / 1e9:.0f} GB of memory",
        over_bytes=estimate.memory_per_chip_bytes - capacity_bytes,
    )
