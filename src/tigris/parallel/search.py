"""Plan search: every valid plan for a model, system, chip count, batch and sequence.

Enumerated: tp (dividing the heads, inside one scale-up domain), pp (`pipeline_sizes`: the
divisors of the layers and of the layers + 2, and the powers of two, up to the layers; any
other pp only when fixed) with its split of the layers (even when pp divides the layers,
else the uneven split with the one-fewer stages at the model ends, which is
Megatron-LM/Llama 3's balanced split when pp divides layers + 2; see
`tigris.parallel.stages`),
cp (powers of two up to 8, for sequences of 8k tokens and more or when asked), ep (MoE:
dividing experts and dp), dp the rest; micro-batch (divisors of the per-replica batch, up
to 16), virtual stages (up to 8: divisors of the layers per stage, of (layers + 2) / pp on
the balanced split; `tigris.parallel.stages.virtual_stage_choices`), recomputation,
ZeRO stage and sequence parallelism. Options the caller fixes are not searched. Plans that
do not fit in memory are dropped (counted); the rest are ranked by step time.
The cheap memory check runs before the step is timed; per-micro-batch compute is shared by
every plan with the same (tp, cp, ep, sequence parallel, micro-batch, recompute).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from math import isqrt

from tigris.errors import InfeasibleError, SpecError
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.parallel.stages import candidate_splits, virtual_stage_choices
from tigris.parallel.step import StepModel, StepResult, TrainSetup

MAX_MICRO_BATCH = 16
MAX_VIRTUAL_STAGES = 8
LONG_SEQUENCE = 8192


@dataclass(frozen=True)
class SearchResult:
    best: StepResult
    top: tuple[StepResult, ...]
    num_searched: int  # plans enumerated
    num_valid: int  # plans the model can be split for
    num_fit: int  # valid plans that fit in memory


def divisors(n: int) -> list[int]:
    """The divisors of n, ascending, in O(sqrt n): chip counts and batches can be huge
    (a user asking for 1e8 chips must get an answer, not a minute-long loop)."""
    small = [d for d in range(1, isqrt(n) + 1) if n % d == 0]
    large = [n // d for d in reversed(small) if d * d != n]
    return small + large


def _choices(fixed: dict[str, object], key: str, default: list) -> list:
    value = fixed.get(key)
    return [value] if value is not None else default


def enumerate_plans(
    setup: TrainSetup, fixed: dict[str, object] | None = None
) -> Iterator[ParallelPlan]:
    """Every combination of plan options (fixed ones held), before validity checks."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    spec, n = setup.spec, setup.num_chips
    domain = setup.cluster.node.scale_up.num_chips
    # tp and pp divide both the chips and the heads (layers): listing the divisors of the
    # model's side keeps this O(heads) when --num-chips is 1e18 (sqrt(n) would hang)
    tps = _choices(fixed, "tp", [t for t in divisors(spec.num_heads) if t <= domain and n % t == 0])
    layers = spec.num_layers
    pps = _choices(fixed, "pp", pipeline_sizes(layers, n))
    cp_default = [c for c in (1, 2, 4, 8) if setup.seq_len >= LONG_SEQUENCE or c == 1]
    cps = _choices(fixed, "cp", cp_default)
    eps = _choices(fixed, "ep", divisors(spec.num_experts) if spec.is_moe else [1])
    recomputes = _choices(fixed, "recompute", ["none", "selective", "full"])
    zeros = _choices(fixed, "zero", [0, 1, 2, 3])
    dtype = fixed.get("dtype", "bf16")
    make = _plan_maker({*fixed, "dtype"} & ParallelPlan.model_fields.keys())
    for tp, pp, cp, pp_layers in _layouts(tps, pps, cps, layers, fixed):
        if n % (tp * pp * cp):
            continue
        dp = n // (tp * pp * cp)
        if "dp" in fixed and fixed["dp"] != dp:
            continue
        if setup.global_batch % dp:
            continue
        per_replica = setup.global_batch // dp
        mbs = _choices(
            fixed, "micro_batch", [b for b in divisors(per_replica) if b <= MAX_MICRO_BATCH]
        )
        vs = _choices(fixed, "virtual_stages", _virtual_stages(layers, pp, pp_layers, fixed))
        sps = _choices(fixed, "sequence_parallel", [True, False] if tp > 1 else [False])
        for ep, mb, v, recompute, zero, sp in product(eps, mbs, vs, recomputes, zeros, sps):
            yield make(
                tp=tp,
                pp=pp,
                dp=dp,
                cp=cp,
                ep=ep,
                micro_batch=mb,
                virtual_stages=v,
                recompute=recompute,
                zero=zero,
                sequence_parallel=sp,
                dtype=dtype,
                pp_layers=pp_layers,
                pp_schedule=fixed.get("pp_schedule"),
            )


def _virtual_stages(
    num_layers: int, pp: int, pp_layers: tuple[int, ...] | None, fixed: dict[str, object]
) -> list[int]:
    """The v to try: `virtual_stage_choices` (uneven splits included), only 1 under a
    fixed 1F1B or DualPipe schedule, only v > 1 under a fixed interleaved one."""
    schedule = fixed.get("pp_schedule")
    if schedule in ("1f1b", "dualpipe"):
        return [1]
    choices = virtual_stage_choices(num_layers, pp, pp_layers, MAX_VIRTUAL_STAGES)
    return [v for v in choices if v > 1] if schedule == "interleaved" else choices


def pipeline_sizes(num_layers: int, num_chips: int) -> list[int]:
    """The stage counts a search tries (the rule): those a practitioner runs, dividing
    the chips, up to the layers: the divisors of the layers (the even split), of the
    layers + 2 (Megatron-LM / Llama 3's balanced split) and the powers of two (uneven
    splits, as DeepSeek-V3's 61 layers on 16 stages). Any other pp is searched only when
    the caller fixes it (`--pp`, `--pp-layers`); trying every pp up to the layers
    multiplied the plans without finding better ones on the baseline runs. Listing the
    model's side keeps this O(layers) for any chip count."""
    return [
        p
        for p in range(1, num_layers + 1)
        if num_chips % p == 0
        and (num_layers % p == 0 or (num_layers + 2) % p == 0 or p & (p - 1) == 0)
    ]


def _layouts(
    tps: list, pps: list, cps: list, num_layers: int, fixed: dict[str, object]
) -> Iterator[tuple[int, int, int, tuple[int, ...] | None]]:
    """(tp, pp, cp, pp_layers) to try: the caller's split when fixed, else each pp's
    candidate split (even or uneven)."""
    given = fixed.get("pp_layers")
    for tp, pp in product(tps, pps):
        splits = [given] if given is not None else candidate_splits(num_layers, pp) or [None]
        for split, cp in product(splits, cps):
            yield tp, pp, cp, split  # type: ignore[misc]


def _plan_maker(fixed_keys: set[str]) -> Callable[..., ParallelPlan]:
    """ParallelPlan(**fields): the first plan validated, the rest copies of it with their
    enumerated options, valid by construction, and the first's checked values of the
    caller's `fixed_keys` (the same in every plan). A copy (`model_copy`) takes half the
    time of `model_construct`, and a search builds thousands of plans."""
    first: ParallelPlan | None = None

    def make(**fields: object) -> ParallelPlan:
        nonlocal first
        if first is None:
            first = ParallelPlan(**fields)
            return first
        for key in fixed_keys:
            del fields[key]
        return first.model_copy(update=fields)

    return make


def search_plans(
    setup: TrainSetup, fixed: dict[str, object] | None = None, top_k: int = 5
) -> SearchResult:
    """The fastest plans that fit, best first. InfeasibleError when none does."""
    model = StepModel(setup)
    spec = setup.spec
    searched = valid = 0
    fitting: list[StepResult] = []
    smallest_over: float | None = None
    capacity = setup.chip.dram_capacity_bytes
    inputs = model.inputs
    for plan in enumerate_plans(setup, fixed):
        searched += 1
        try:
            check_plan(plan, spec, setup.num_chips, setup.global_batch, setup.seq_len)
        except (InfeasibleError, SpecError):
            continue
        valid += 1
        memory = inputs.memory(setup, plan)
        if not memory.fits:
            over = memory.over_bytes
            smallest_over = over if smallest_over is None else min(smallest_over, over)
            continue
        fitting.append(model.evaluate(plan, checked=True))
    if not fitting:
        if valid == 0:
            raise InfeasibleError(
                f"none of the {searched} plans searched can split {spec.name} this way"
            )
        raise InfeasibleError(
            f"none of the {valid} valid plans fits in {capacity / 1e9:.0f} GB per chip "
            f"(the closest is {smallest_over / 1e9:.1f} GB over)",
            over_bytes=smallest_over,
        )
    fitting.sort(key=lambda result: result.step_time_s)
    return SearchResult(fitting[0], tuple(fitting[:top_k]), searched, valid, len(fitting))
