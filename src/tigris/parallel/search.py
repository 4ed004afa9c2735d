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
from dataclasses import dataclass, field
from itertools import product
from math import isqrt
from operator import itemgetter

from tigris.errors import InfeasibleError, SpecError
from tigris.parallel.memory import MemoryBreakdown
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
    make = _plan_maker(fixed)
    return (make(fields) for fields in _option_rows(setup, fixed))


def _option_rows(setup: TrainSetup, fixed: dict[str, object]) -> Iterator[dict[str, object]]:
    """The fields of every plan `enumerate_plans` makes, in its order (`fixed`: without
    the Nones)."""
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
    dtype, schedule = fixed.get("dtype", "bf16"), fixed.get("pp_schedule")
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
            yield {
                "tp": tp,
                "pp": pp,
                "dp": dp,
                "cp": cp,
                "ep": ep,
                "micro_batch": mb,
                "virtual_stages": v,
                "recompute": recompute,
                "zero": zero,
                "sequence_parallel": sp,
                "dtype": dtype,
                "pp_layers": pp_layers,
                "pp_schedule": schedule,
            }


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


def _plan_maker(fixed: dict[str, object]) -> Callable[[dict[str, object]], ParallelPlan]:
    """ParallelPlan(**fields): the first plan validated, the rest copies of it with their
    enumerated options, valid by construction, and the first's checked values of the
    options the same in every plan (the caller's `fixed`, the dtype and the schedule): the
    state `first.model_copy(update=...)` gives, without its generic copying (a search
    builds thousands of plans)."""
    first: ParallelPlan | None = None
    pinned: dict[str, object] = {}

    def make(fields: dict[str, object]) -> ParallelPlan:
        nonlocal first
        if first is None:
            first = ParallelPlan(**fields)
            constant = {*fixed, "dtype", "pp_schedule"} & ParallelPlan.model_fields.keys()
            pinned.update((key, first.__dict__[key]) for key in constant)
            return first
        plan = ParallelPlan.__new__(ParallelPlan)
        for name, value in (
            ("__dict__", {**fields, **pinned}),
            ("__pydantic_fields_set__", set(first.__pydantic_fields_set__)),
            ("__pydantic_extra__", None),
            ("__pydantic_private__", None),
        ):
            object.__setattr__(plan, name, value)
        return plan

    return make


# What the plan's layout is for `check_plan` (it reads no other field; a plan search checks
# each layout once, for its recomputation and ZeRO variants alike).
_LAYOUT_FIELDS = ("tp", "pp", "dp", "cp", "ep", "micro_batch", "virtual_stages")
_LAYOUT_FIELDS += ("sequence_parallel", "pp_layers", "pp_schedule")
# What the memory model's weights, gradients and optimizer state read of a plan
# (`memory.stage_memory`): a plan sharing these with one whose model state alone is over
# the memory does not fit either (its activations and buffers are never negative).
MODEL_STATE_FIELDS = ("tp", "pp", "dp", "ep", "virtual_stages", "pp_layers", "pp_schedule")
MODEL_STATE_FIELDS += ("zero",)


def model_state_bytes(memory: MemoryBreakdown) -> float:
    """Weights, gradients and optimizer state: the part of a plan's memory that its
    MODEL_STATE_FIELDS set."""
    return memory.weights_bytes + memory.gradients_bytes + memory.optimizer_bytes


@dataclass
class _Tally:
    """A search's counts and what it found (see search_plans)."""

    searched: int = 0
    valid: int = 0
    fitting: list[StepResult] = field(default_factory=list)
    over: list[dict[str, object]] = field(default_factory=list)  # fields of plans over


def search_plans(
    setup: TrainSetup, fixed: dict[str, object] | None = None, top_k: int = 5
) -> SearchResult:
    """The fastest plans that fit, best first. InfeasibleError when none does.

    Each layout is checked once (`check_plan` reads only its _LAYOUT_FIELDS); a plan whose
    MODEL_STATE_FIELDS are those of a plan whose weights, gradients and optimizer state
    alone do not fit is counted as not fitting without computing its memory (computed
    after all when no plan fits, for the closest one's excess). The results, counts and
    order are those of checking, sizing and timing every plan (tests/parallel)."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    model = StepModel(setup)
    make = _plan_maker(fixed)
    tally = _Tally()
    verdicts: dict[tuple, bool] = {}  # layout -> check_plan passes
    layout_of, state_of = itemgetter(*_LAYOUT_FIELDS), itemgetter(*MODEL_STATE_FIELDS)
    over_states: set[tuple] = set()  # model states over the memory on their own
    for fields in _option_rows(setup, fixed):
        tally.searched += 1
        layout = layout_of(fields)
        verdict = verdicts.get(layout)
        if verdict is False:
            continue
        plan = None
        if verdict is None:
            plan = make(fields)
            if not verdicts.setdefault(layout, _passes_check(setup, plan)):
                continue
        tally.valid += 1
        state = state_of(fields)
        if state in over_states:  # not built: sized only if no plan fits (_result)
            tally.over.append(fields)
            continue
        plan = plan or make(fields)
        memory = model.inputs.memory(setup, plan)
        if not memory.fits:
            if model_state_bytes(memory) > memory.usable_bytes:
                over_states.add(state)
            tally.over.append(fields)
            continue
        tally.fitting.append(model.evaluate(plan, checked=True))
    return _result(setup, model, tally, top_k, make)


def _passes_check(setup: TrainSetup, plan: ParallelPlan) -> bool:
    try:
        check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
    except (InfeasibleError, SpecError):
        return False
    return True


def _result(
    setup: TrainSetup,
    model: StepModel,
    tally: _Tally,
    top_k: int,
    make: Callable[[dict[str, object]], ParallelPlan],
) -> SearchResult:
    """The SearchResult of a search's tally; InfeasibleError when no plan fits."""
    fitting = tally.fitting
    if not fitting:
        spec, capacity = setup.spec, setup.chip.dram_capacity_bytes
        if tally.valid == 0:
            raise InfeasibleError(
                f"none of the {tally.searched} plans searched can split {spec.name} this way"
            )
        overs = (model.inputs.memory(setup, make(fields)).over_bytes for fields in tally.over)
        smallest_over = min(overs)
        raise InfeasibleError(
            f"none of the {tally.valid} valid plans fits in {capacity / 1e9:.0f} GB per chip "
            f"(the closest is {smallest_over / 1e9:.1f} GB over)",
            over_bytes=smallest_over,
        )
    fitting.sort(key=lambda result: result.step_time_s)
    return SearchResult(
        fitting[0], tuple(fitting[:top_k]), tally.searched, tally.valid, len(fitting)
    )
