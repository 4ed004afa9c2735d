"""Run one mapped power row through tigris' serving model: its time and the reference
rates of its activity, with nothing of the row's measured power or energy.

A serve row runs under its source's software stack (tigris.validate.stack_fit.power_row_stack)
composed as `tigris serve --stack` composes it (tigris.api.serving._deployment): the
stack's kernel efficiency on the chip, then the power cap, then the stack's engine
profile (scheduler limits), then the Deployment with the stack's settings; the step
times are the one StepTimer's (the stack's host time per step and per sequence in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tigris.cost.area import estimate_area
from tigris.cost.coefficients import load_assumptions
from tigris.cost.power_fit import PowerSample
from tigris.cost.power_scope import RefRates, apply_power_cap, board_limit_w, reference_rates
from tigris.cost.workload_activity import inference_activity
from tigris.errors import TigrisError
from tigris.hardware.presets import load_chip
from tigris.hardware.stacks import StackProfile
from tigris.serving.deployment import build_deployment
from tigris.serving.static_batch import infer
from tigris.validate.power import PowerRow, RowSetup
from tigris.workload.presets import load_model


@dataclass(frozen=True)
class RowModel:
    """What the models say about a row's setup, before any power coefficient."""

    row_id: str
    chip_id: str
    tdp_w: float | None
    limit_w: float | None
    time_s: float  # one batch of one replica, unthrottled
    tokens: float  # tokens of the row's kind the whole system makes in time_s
    rates: RefRates
    batch: int


def _batch(setup: RowSetup, deployment) -> int:
    """The row's batch; for MLPerf Offline/Server the largest that fits (up to it)."""
    if not setup.assumed or not any("largest batch" in a for a in setup.assumed):
        return setup.batch
    probe = infer(deployment, 1, setup.input_len, setup.output_len)
    batch = max(1, min(setup.batch, probe.max_batch))
    while batch > 1 and not infer(deployment, batch, setup.input_len, setup.output_len).fits:
        batch = batch * 3 // 4
    return batch


def _deployment(setup: RowSetup, stack: StackProfile | None):
    """The row's Deployment under `stack` (None: the chip as calibrated, no engine
    profile), composed in `tigris serve --stack`'s order (see the module docstring)."""
    from tigris.serving.engines import ServingOptions

    chip, settings = load_chip(setup.chip_id), {}
    if stack is not None:
        chip, settings = stack.apply_to_chip(chip), stack.deployment_settings()
    chip = apply_power_cap(chip, setup.power_cap_w)
    limits: dict[str, int] = {}
    if stack is not None and stack.engine is not None:
        limits = ServingOptions(engine=stack.engine).engine_limits(
            chip.dram_capacity_bytes, {}, False
        )[0]
    return build_deployment(
        load_model(setup.model_id), chip, num_chips=setup.tp, tp=setup.tp,
        compute_dtype=setup.dtype, weight_dtype=setup.weight_dtype, **limits, **settings,
    )  # fmt: skip


@lru_cache(maxsize=4096)
def model_row(setup: RowSetup, row_id: str, stack: StackProfile | None = None) -> RowModel:
    """The serving (or, for a train row, training) model over the row's setup under
    `stack` (TigrisError when it cannot run it); a capped row's ops are timed at the
    clock its cap allows each (apply_power_cap, with the shipped board terms: they are
    fitted on board rows, and every capped row is a wall row)."""
    if setup.kind == "train":
        return _train_row(setup, row_id)
    deployment = _deployment(setup, stack)
    chip = deployment.chip
    batch = _batch(setup, deployment)
    result = infer(deployment, batch, setup.input_len, setup.output_len)
    if not result.fits:
        raise TigrisError(f"batch {batch} does not fit in the model's memory plan")
    busy_s = _busy_time_s(setup, stack, batch, result.e2e_latency_s)
    activity = inference_activity(deployment, batch, setup.input_len, setup.output_len, busy_s)
    assumptions = load_assumptions()
    rates = reference_rates(chip, activity, assumptions, estimate_area(chip, assumptions))
    per_seq = setup.output_len + (setup.input_len if setup.tokens == "input+output" else 0)
    replicas = setup.num_chips // setup.tp
    return RowModel(
        row_id=row_id,
        chip_id=chip.id,
        tdp_w=chip.tdp,
        limit_w=board_limit_w(chip),
        time_s=result.e2e_latency_s,
        tokens=replicas * batch * per_seq,
        rates=rates,
        batch=batch,
    )


def _train_row(setup: RowSetup, row_id: str) -> RowModel:
    """One training step of the row's plan (tigris.api.train) and its activity."""
    from tigris.cost.workload_activity import training_activity
    from tigris.hardware.presets import default_cluster, load_chip
    from tigris.parallel.search import search_plans
    from tigris.parallel.step import TrainSetup
    from tigris.workload.finetune import make_finetune, with_finetune
    from tigris.workload.presets import load_model

    # the row's published plan through the plan search, as `tigris train` runs it (this
    # package sits below tigris.api, so it calls the search itself)
    fixed = dict(setup.plan)
    tune = {key: fixed.pop(key, None) for key in ("finetune", "lora_rank", "lora_targets")}
    finetune = make_finetune(tune["finetune"] or "full", setup.input_len, tune["lora_rank"],
                             tune["lora_targets"], None)  # fmt: skip
    if finetune.mode == "lora":
        fixed.setdefault("zero", 0)  # as tigris train: LoRA's optimizer state is the adapters'
    spec = with_finetune(load_model(setup.model_id), finetune)
    chip = apply_power_cap(load_chip(setup.chip_id))
    cluster = default_cluster(chip)
    assert cluster is not None, f"{chip.id} has no default system"
    train = TrainSetup(spec, chip, cluster, setup.num_chips, setup.batch, setup.input_len)
    step = search_plans(train, fixed | {"dtype": setup.dtype}, top_k=1).best
    activity = training_activity(step, setup.dtype, chip)
    assumptions = load_assumptions()
    rates = reference_rates(chip, activity, assumptions, estimate_area(chip, assumptions))
    return RowModel(row_id=row_id, chip_id=chip.id, tdp_w=chip.tdp, limit_w=board_limit_w(chip),
                    time_s=step.step_time_s, tokens=float(step.tokens_per_step), rates=rates,
                    batch=setup.batch)  # fmt: skip


def _busy_time_s(setup: RowSetup, stack: StackProfile | None, batch: int, time_s: float) -> float:
    """The time the row's activity is spread over for its power: the whole time, or,
    where the stack's host times are spent with the device busy (overhead_on_device),
    the time without them, so that the power stays the busy power over them (the
    rows' board power at large batches says so: vllm-server.yaml)."""
    if stack is None or not stack.overhead_on_device:
        return time_s
    if stack.step_overhead_s == 0.0 and stack.seq_overhead_s == 0.0:
        return time_s
    bare = _deployment(setup, stack.with_values(step_overhead_s=0.0, seq_overhead_s=0.0))
    return infer(bare, batch, setup.input_len, setup.output_len).e2e_latency_s


def sample_of(row: PowerRow, model: RowModel) -> PowerSample:
    """The fit's view of a row: its rates and its measured power per chip."""
    assert row.setup is not None
    return PowerSample(
        row_id=row.row_id,
        scope=row.setup.scope,
        tdp_w=model.tdp_w,
        limit_w=model.limit_w,
        rates=model.rates,
        time_s=model.time_s,
        measured_w=row.measured_power_w / row.num_chips,
    )
