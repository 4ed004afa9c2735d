"""The plan search's shortcuts change nothing but time: checking each layout once, and
counting a plan as not fitting when a plan of the same model state (weights, gradients,
optimizer state) is over the memory on those alone, give the plans, counts, order and
error messages of checking, sizing and timing every enumerated plan (the reference
below, the search as it was written before the shortcuts)."""

from __future__ import annotations

from itertools import islice

import pytest

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.parallel.search import (
    MODEL_STATE_FIELDS,
    SearchResult,
    enumerate_plans,
    model_state_bytes,
    search_plans,
)
from tigris.parallel.step import StepModel, TrainSetup
from tigris.workload import load_model

H100, DGX = load_chip("h100-sxm"), load_cluster("dgx-h100")
SETUPS = [
    (TrainSetup(load_model("llama3-8b"), H100, DGX, 16, 64, 4096), None),
    (TrainSetup(load_model("llama3-70b"), H100, DGX, 32, 64, 4096), None),
    (TrainSetup(load_model("mixtral-8x7b"), H100, DGX, 16, 64, 4096), {"tp": 2}),
    (TrainSetup(load_model("llama3-8b"), H100, DGX, 8, 64, 4096), {"pp_schedule": "interleaved"}),
    (TrainSetup(load_model("gpt3-175b"), H100, DGX, 64, 64, 2048), {"recompute": "full"}),
]
INFEASIBLE = [  # nothing fits; nothing splits this way
    (TrainSetup(load_model("llama3-70b"), H100, DGX, 8, 64, 4096), None),
    (TrainSetup(load_model("llama3-8b"), H100, DGX, 8, 64, 4096), {"tp": 3}),
]


def reference_search(setup: TrainSetup, fixed: dict | None, top_k: int) -> SearchResult:
    """Every plan checked, sized and timed, in enumeration order."""
    model = StepModel(setup)
    searched = valid = 0
    fitting, overs = [], []
    for plan in enumerate_plans(setup, fixed):
        searched += 1
        try:
            check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
        except (InfeasibleError, SpecError):
            continue
        valid += 1
        memory = model.inputs.memory(setup, plan)
        if not memory.fits:
            overs.append(memory.over_bytes)
            continue
        fitting.append(model.evaluate(plan, checked=True))
    if not fitting:
        if valid == 0:
            raise InfeasibleError(f"none of the {searched} plans searched")
        raise InfeasibleError(f"none of the {valid} valid plans fits", over_bytes=min(overs))
    fitting.sort(key=lambda result: result.step_time_s)
    return SearchResult(fitting[0], tuple(fitting[:top_k]), searched, valid, len(fitting))


def _summary(found: SearchResult) -> list:
    return [found.num_searched, found.num_valid, found.num_fit] + [
        (r.plan.__dict__, r.step_time_s, r.memory.total_bytes) for r in found.top
    ]


@pytest.mark.parametrize(("setup", "fixed"), SETUPS)
def test_search_finds_what_checking_every_plan_finds(setup: TrainSetup, fixed: dict) -> None:
    found = search_plans(setup, fixed, top_k=30)
    assert found.num_fit > 0
    assert _summary(found) == _summary(reference_search(setup, fixed, top_k=30))


@pytest.mark.parametrize(("setup", "fixed"), INFEASIBLE)
def test_infeasible_searches_say_the_same(setup: TrainSetup, fixed: dict) -> None:
    with pytest.raises(InfeasibleError) as expected:
        reference_search(setup, fixed, top_k=5)
    with pytest.raises(InfeasibleError) as found:
        search_plans(setup, fixed)
    assert getattr(found.value, "over_bytes", None) == getattr(expected.value, "over_bytes", None)
    assert str(found.value).startswith(str(expected.value).split(" plans")[0])


def _verdict(setup: TrainSetup, plan: ParallelPlan) -> str:
    try:
        check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
    except (InfeasibleError, SpecError) as error:
        return str(error)
    return "ok"


@pytest.mark.parametrize(("setup", "fixed"), SETUPS + INFEASIBLE)
def test_check_plan_reads_no_recompute_zero_or_dtype(setup: TrainSetup, fixed: dict) -> None:
    """What lets the search check a layout once for all its variants."""
    for plan in islice(enumerate_plans(setup, fixed), 0, None, 7):
        verdict = _verdict(setup, plan)
        for change in ({"recompute": "full"}, {"zero": 3}, {"dtype": "fp8"}, {"zero": 0}):
            assert _verdict(setup, plan.model_copy(update=change)) == verdict


@pytest.mark.parametrize(("setup", "fixed"), SETUPS + INFEASIBLE[:1])
def test_model_state_is_read_from_its_fields_only(setup: TrainSetup, fixed: dict) -> None:
    """What lets the search skip the memory of a plan whose model state is over: plans of
    equal MODEL_STATE_FIELDS hold equal weights, gradients and optimizer state on their
    fullest stage or less, and activations and buffers are never negative."""
    model = StepModel(setup)
    largest: dict[tuple, float] = {}
    plans = [p for p in enumerate_plans(setup, fixed) if _verdict(setup, p) == "ok"]
    for plan in plans:
        memory = model.inputs.memory(setup, plan)
        assert memory.activations_bytes >= 0 and memory.buffers_bytes >= 0
        key = tuple(getattr(plan, name) for name in MODEL_STATE_FIELDS)
        largest[key] = max(largest.get(key, 0.0), model_state_bytes(memory))
    for plan in plans:  # any plan's total is at least its layout's model state
        key = tuple(getattr(plan, name) for name in MODEL_STATE_FIELDS)
        assert model.inputs.memory(setup, plan).total_bytes >= model_state_bytes(
            model.inputs.memory(setup, plan)
        )
        assert largest[key] >= model_state_bytes(model.inputs.memory(setup, plan))


def test_enumerated_plans_equal_validated_ones() -> None:
    """The search's plan copies hold what ParallelPlan(**fields) validates (a fixed
    schedule given as text becomes the enum), the same fields set."""
    setup, fixed = SETUPS[3]
    for plan in islice(enumerate_plans(setup, fixed), 0, 200, 13):
        fields = {name: getattr(plan, name) for name in ParallelPlan.model_fields}
        made = ParallelPlan(**{**fields, "pp_schedule": "interleaved"})
        assert plan == made
        assert plan.__dict__ == made.__dict__
        assert list(plan.__dict__) == list(made.__dict__)
        assert type(plan.pp_schedule) is type(made.pp_schedule)
        assert plan.model_fields_set == made.model_fields_set
        assert plan.as_dict() == made.as_dict()
