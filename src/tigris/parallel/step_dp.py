"""The data-parallel part of a training step (`tigris.parallel.step_model`): the
collectives of one step under ZeRO 0-3 and how much of them the compute hides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tigris.hardware.quantities import dtype_bytes
from tigris.parallel.overlap import collective_slowdown, exposed_s, fsdp_grad_pass_bytes
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step_result import Collective, TrainSetup
from tigris.workload.ops import make_stream
from tigris.workload.spec import TransformerSpec

if TYPE_CHECKING:
    from tigris.parallel.step_model import OpTimes


class DpInputs(Protocol):
    """The look-ups dp_comm reads (`tigris.parallel.step_model.StepInputs`)."""

    def params(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[float, float]: ...

    def collective_s(
        self, setup: TrainSetup, kind: str, message_bytes: float, size: int, stride: int
    ) -> float: ...


# Megatron-LM's data-parallel gradient bucket (--ddp-bucket-size default: 40M elements).
DP_BUCKET_ELEMENTS = 40e6


@dataclass(frozen=True, slots=True)
class ShardedDpComm:
    """ZeRO-3's data-parallel collectives: the weights gathered for each pass, the
    gradients reduce-scattered after each backward."""

    params: float  # parameters on the chip
    gather_s: float
    scatter_s: float
    weight_bytes: float
    grad_bytes: float


@dataclass(frozen=True, slots=True)
class ReducedDpComm:
    """ZeRO 0-2's data-parallel collectives: the gradient reduction (an all-reduce, or a
    reduce-scatter under ZeRO 1/2), its last bucket, and ZeRO 1/2's all-gather of the
    updated weights (None under ZeRO-0)."""

    params: float
    kind: str  # all_reduce or reduce_scatter
    reduce_s: float
    last_bucket_s: float
    gather_s: float | None
    weight_bytes: float
    grad_bytes: float


DpComm = ShardedDpComm | ReducedDpComm


def dp_comm(setup: TrainSetup, plan: ParallelPlan, inputs: DpInputs) -> DpComm | None:
    """The data-parallel collectives of one step (chip-independent)."""
    if plan.dp == 1:
        return None
    params, _ = inputs.params(setup.spec, plan)
    reduce_dtype = setup.grad_reduce_dtype or setup.precision.grad_dtype
    grad_b = dtype_bytes(reduce_dtype)
    grads, weights = params * grad_b, params * 2.0
    stride = plan.tp * plan.cp

    def seconds(kind: str, message_bytes: float) -> float:
        return inputs.collective_s(setup, kind, message_bytes, plan.dp, stride)

    if plan.zero >= 3:
        gather = seconds(Collective.all_gather, weights)
        scatter = seconds(Collective.reduce_scatter, grads)
        return ShardedDpComm(params, gather, scatter, weights, grads)
    kind = Collective.all_reduce if plan.zero == 0 else Collective.reduce_scatter
    bucket = min(grads, DP_BUCKET_ELEMENTS * grad_b)
    reduce_s, last_bucket_s = seconds(kind, grads), seconds(kind, bucket)
    gather = seconds(Collective.all_gather, weights) if plan.zero >= 1 else None
    return ReducedDpComm(params, kind, reduce_s, last_bucket_s, gather, weights, grads)


def dp_exposed_s(
    setup: TrainSetup,
    plan: ParallelPlan,
    comm: DpComm | None,
    m: int,
    fwd_s: float,
    bwd_s: float,
    op_times: OpTimes,
) -> float:
    """Exposed data-parallel communication of one step (see the module docstring),
    with the slow-down of the compute it overlaps and FSDP's gradient passes."""
    if comm is None:
        return 0.0
    slowdown = collective_slowdown(setup.chip)
    passes_s = fsdp_grad_passes_s(setup, comm.params, op_times) if setup.grad_reduce_dtype else 0.0
    if isinstance(comm, ShardedDpComm):
        gather, scatter = comm.gather_s, comm.scatter_s
        per_mb = exposed_s(gather, fwd_s, slowdown) + exposed_s(gather + scatter, bwd_s, slowdown)
        return m * (per_mb + passes_s)
    exposed = comm.reduce_s
    if setup.dp_overlap:  # all but the last bucket under the backward
        last = comm.last_bucket_s
        exposed = last + exposed_s(comm.reduce_s - last, bwd_s, slowdown)
    if comm.gather_s is not None:  # ZeRO 1/2: the updated weights' all-gather
        exposed += exposed_s(comm.gather_s, fwd_s, slowdown)
    return exposed + m * passes_s


def fsdp_grad_passes_s(setup: TrainSetup, params: float, op_times: OpTimes) -> float:
    """Seconds of FSDP's cast and pre-division passes over `params` gradients."""
    read, written = fsdp_grad_pass_bytes(setup.grad_reduce_dtype)
    op = make_stream("fsdp.grad_passes", int(params), read * params, written * params)
    return op_times.times_s([op])[0]
