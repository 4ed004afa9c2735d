"""The StepCache path (sharded graphs shared across chips, each op shape timed once)
gives exactly the numbers of the plain StepModel: not approximately, bit for bit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepCache, StepModel, TrainSetup
from tigris.workload import load_model

LLAMA = load_model("llama3-8b")
MIXTRAL = load_model("mixtral-8x7b")
H100, DGX = load_chip("h100-sxm"), load_cluster("dgx-h100")
TIGRIS, POD = load_chip("tigris-1"), load_cluster("tigris-1-pod")
TPU, TPU_POD = load_chip("tpu-v5p"), load_cluster("tpu-v5p-pod")

PLANS = [
    ParallelPlan(tp=1, pp=1, dp=16, micro_batch=1, recompute="full", zero=1),
    ParallelPlan(tp=2, pp=2, dp=4, micro_batch=2, recompute="selective", zero=0),
    ParallelPlan(tp=4, pp=1, dp=2, cp=2, micro_batch=1, sequence_parallel=True, zero=3),
    ParallelPlan(tp=2, pp=4, dp=2, micro_batch=1, virtual_stages=2, recompute="full"),
    ParallelPlan(tp=1, pp=1, dp=16, micro_batch=1, recompute="full", zero=2, dtype="fp8"),
]
SETUPS = [
    TrainSetup(LLAMA, H100, DGX, 16, 64, 4096),
    TrainSetup(LLAMA, TIGRIS, POD, 16, 64, 4096),
    TrainSetup(LLAMA, TPU, TPU_POD, 16, 64, 4096),
    TrainSetup(LLAMA, H100, DGX, 16, 64, 4096, attention="fused_softmax", attention_dropout=True),
    TrainSetup(LLAMA, H100, DGX, 16, 64, 4096, eager=True, dp_overlap=False, loss="fp32"),
]


def _same(plain: StepModel, cached: StepModel, plan: ParallelPlan) -> None:
    expected, got = plain.evaluate(plan), cached.evaluate(plan)
    assert got.to_dict(tokens=1e12) == expected.to_dict(tokens=1e12)
    assert got == expected
    assert cached.microbatch_times(plan) == plain.microbatch_times(plan)


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: f"{s.chip.id}-{s.attention}-{s.eager}")
def test_cached_step_is_identical(setup: TrainSetup) -> None:
    cache = StepCache()  # one cache, many chips and plans: as a sweep uses it
    for chip in (setup.chip, TIGRIS, H100):
        this = replace(setup, chip=chip)
        plain, cached = StepModel(this, per_op=True), StepModel(this, cache)
        for plan in PLANS:
            _same(plain, cached, plan)
            _same(
                StepModel(this, per_op=True), StepModel(this, cache), plan
            )  # a fresh model per plan


def test_cached_moe_step_is_identical() -> None:
    setup = TrainSetup(MIXTRAL, H100, DGX, 64, 256, 4096)
    plan = ParallelPlan(tp=2, pp=2, dp=16, ep=8, micro_batch=1, recompute="full", zero=1)
    cache = StepCache()
    for chip in (H100, TIGRIS):
        this = replace(setup, chip=chip)
        _same(StepModel(this, per_op=True), StepModel(this, cache), plan)


def test_cache_shares_graphs_and_dedupes_op_shapes() -> None:
    cache = StepCache()
    plan = PLANS[0]
    first = cache.step(SETUPS[0], plan)
    assert cache.step(replace(SETUPS[0], chip=TIGRIS), plan) is first  # chip-independent
    shapes = {replace(op, name="") for op in first.ops}
    assert len(shapes) == len(first.ops)  # each shape timed once
    assert max(*first.layer_fwd[0], *first.layer_bwd[0], *first.head) < len(first.ops)


@pytest.mark.parametrize("engine", ["tile", "roofline"])
def test_op_names_do_not_change_times(engine: str) -> None:
    """What timing by shape rests on: an engine's time reads an op's shape, not its name."""
    from tigris.engines.base import get_engine

    timer = get_engine(engine)
    setup = SETUPS[3]  # unfused attention with dropout: named sub-ops
    for plan in PLANS:
        for op in StepCache().step(setup, plan).ops:
            for chip in (H100, TIGRIS):
                named, renamed = timer.time(op, chip), timer.time(replace(op, name="x"), chip)
                assert replace(renamed, name=named.name) == named


def test_cache_shares_graphs_between_equal_setups() -> None:
    """A sweep builds a TrainSetup (and its Precision) per design: equal values, new
    objects. The cache must still find the graph built for the first one."""
    from tigris.workload.precision import Precision

    cache = StepCache()
    plan = PLANS[0]
    first = cache.step(SETUPS[0], plan)
    again = replace(SETUPS[0], chip=TIGRIS, precision=Precision(), spec=LLAMA.model_copy())
    assert again.precision is not SETUPS[0].precision and again.spec is not LLAMA
    assert cache.step(again, plan) is first


def _tigris_variants(count: int) -> list:
    """tigris-1 with other arrays, clocks and DRAM (as a sweep makes its designs)."""
    chips = []
    for i in range(count):
        matrix = TIGRIS.matrix.model_copy(
            update={"rows": (64, 128, 256)[i % 3], "clock": TIGRIS.matrix.clock * (1 + i / 10)}
        )
        dram = TIGRIS.memory.dram.model_copy(
            update={"capacity": (4 + i % 3) * 36e9, "bandwidth": (4 + i % 3) * 7e12 / 6}
        )
        memory = TIGRIS.memory.model_copy(update={"dram": dram})
        chips.append(TIGRIS.model_copy(update={"matrix": matrix, "memory": memory}))
    return chips


@pytest.mark.parametrize("plan", PLANS, ids=range(len(PLANS)))
def test_steps_evaluated_together_are_identical(plan: ParallelPlan) -> None:
    """StepMemo.evaluate_many (a batch's op times at once, through the tile engine's grid,
    and the figures shared between chips) gives the plain model's numbers, chip by chip."""
    base = TrainSetup(LLAMA, TIGRIS, POD, 16, 64, 4096)
    setups = [replace(base, chip=chip) for chip in [*_tigris_variants(7), H100]]
    together = StepCache().evaluate_many(setups, plan)
    for setup, got in zip(setups, together, strict=True):
        expected = StepModel(setup, per_op=True).evaluate(plan)
        assert got.to_dict(tokens=1e12) == expected.to_dict(tokens=1e12)
        assert got == expected and got.tree == expected.tree


def test_memo_off_gives_the_same_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan search with memoisation (one StepMemo over every plan) and without it (the
    pure model on each plan) finds the same plans with the same numbers, bit for bit."""
    from tigris.parallel.search import search_plans
    from tigris.parallel.step import no_memo

    setup = TrainSetup(MIXTRAL, H100, DGX, 64, 256, 4096)
    fixed = {"micro_batch": 1, "virtual_stages": 1, "tp": 2}
    memoised = search_plans(setup, fixed, top_k=50)
    with no_memo():
        plain = search_plans(setup, fixed, top_k=50)
    monkeypatch.setenv("TIGRIS_NO_MEMO", "1")
    from_env = search_plans(setup, fixed, top_k=50)
    assert memoised.num_fit == plain.num_fit > 5
    for found in (plain, from_env):
        assert [r.to_dict(tokens=1e12) for r in found.top] == [
            r.to_dict(tokens=1e12) for r in memoised.top
        ]
        assert [r.tree for r in found.top] == [r.tree for r in memoised.top]


def test_tree_traffic_adds_up() -> None:
    """The tree's parents carry their children's flop and bytes; compute reads the ops."""
    setup = TrainSetup(LLAMA, H100, DGX, 16, 64, 4096)
    result = StepModel(setup).evaluate(PLANS[1])
    tree = result.tree
    assert tree.flop == sum(child.flop for child in tree.children) > 0
    compute = tree.find("compute")
    assert compute is not None and compute.dram_bytes > 0
    comm = tree.find("communication (exposed)")
    assert comm is not None and comm.link_bytes > 0
    assert tree.to_dict() == result.to_dict()["breakdown"]  # times only in the JSON


def test_shared_memo_across_calls_gives_the_same_search() -> None:
    """Searches after a first one read the process-wide memo (sharded steps, memory,
    figures, op times by value); they find what the pure model finds, bit for bit, with
    an equal setup built anew (keys by value, not by object)."""
    from tigris.parallel.search import search_plans
    from tigris.parallel.step import no_memo
    from tigris.parallel.step_memo import shared_memo

    def search() -> list[dict]:
        setup = TrainSetup(LLAMA, H100, DGX, 16, 64, 4096)
        found = search_plans(setup, {"micro_batch": 1, "virtual_stages": 1}, top_k=20)
        return [r.to_dict(tokens=1e12) for r in found.top] + [found.num_fit]

    first = search()
    assert shared_memo().memory  # the first search filled it
    with no_memo():
        plain = search()
    assert search() == first == plain
