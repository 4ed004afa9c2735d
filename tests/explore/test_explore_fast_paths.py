"""The evaluator's fast paths (a StepMemo shared across designs, a batch's steps evaluated
together, the area computed once per design) give exactly the numbers of the plain models
called one by one, and the rows do not depend on the memo."""

from __future__ import annotations

import random
from pathlib import Path

import tigris.cost as cost
from tigris.explore import Evaluator, load_sweep
from tigris.explore.evaluate import design_id
from tigris.explore.rows import Evaluation
from tigris.hardware.presets import load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step import StepMemo, StepModel, TrainSetup, no_memo
from tigris.workload import load_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "better-tigris-1.yaml"


def test_example_rows_equal_the_plain_models() -> None:
    sweep = load_sweep(EXAMPLE)
    rng = random.Random(3)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(24)]
    evaluator = Evaluator(sweep)
    rows = [evaluator.evaluate(params) for params in designs]
    assert {"ok", "infeasible"} <= {row.status for row in rows}
    workload = sweep.workloads[0]
    spec, cluster = load_model(workload.model), load_cluster("tigris-1-pod")
    plan = ParallelPlan.model_validate(workload.plan)
    assumptions = cost.load_assumptions()
    checked = 0
    for params, row in zip(designs, rows, strict=True):
        chip, _ = sweep.space.build(params, chip_id=f"{sweep.base_id}~{design_id(params)[:8]}")
        area = cost.estimate_area(chip, assumptions)
        tdp = cost.estimate_tdp(chip, assumptions)
        if area.die_area_mm2 > 800 or tdp > 700:
            assert row.status == "infeasible"
            continue
        setup = TrainSetup(
            spec, chip, cluster, workload.num_chips, workload.global_batch, workload.seq_len
        )
        result = StepModel(setup).evaluate(plan, checked=True)
        if not result.fits:
            assert row.status == "infeasible"
            continue
        power = cost.typical_power_w(chip, assumptions)
        breakdown = cost.estimate_cost(chip, assumptions, cost.estimate_area(chip, assumptions))
        usd_h = cost.tco(chip, assumptions, power_w=power, cost=breakdown).owned_usd_per_chip_hour
        metrics = row.metrics[workload.label]
        assert row.status == "ok"
        assert metrics["step_time_s"] == result.step_time_s
        assert metrics["tokens_per_s"] == result.tokens_per_s
        assert metrics["mfu"] == result.mfu
        assert metrics["j_per_token"] == (
            power * workload.num_chips * result.step_time_s / result.tokens_per_step
        )
        assert metrics["usd_per_mtoken"] == cost.usd_per_million_tokens(
            usd_h, result.tokens_per_s / workload.num_chips
        )
        checked += 1
    assert checked >= 5


def test_batches_equal_designs_one_by_one() -> None:
    """evaluate_batch times a batch's training ops together (engines.tile_batch); its rows
    are those of evaluate(params) for each design, bit for bit."""
    sweep = load_sweep(EXAMPLE)
    rng = random.Random(7)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(40)]
    one_by_one = [Evaluator(sweep).evaluate(params) for params in designs]
    batched = Evaluator(sweep).evaluate_batch(designs)
    assert sum(row.status == "ok" for row in batched) >= 4  # enough to batch
    for a, b in zip(one_by_one, batched, strict=True):
        assert (a.design_id, a.status, a.reason, a.derived) == (
            b.design_id, b.status, b.reason, b.derived
        )  # fmt: skip
        assert a.metrics == b.metrics and a.objectives == b.objectives


def test_rows_sent_between_processes_equal_the_rows_made() -> None:
    """A row pickles as its store JSON and the fields a run reads; the row received has
    the same params, derived values, metrics and store JSON, and compares equal."""
    import pickle

    sweep = load_sweep(EXAMPLE)
    rng = random.Random(5)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(16)]
    rows = Evaluator(sweep).evaluate_batch(designs)
    assert {"ok", "infeasible"} <= {row.status for row in rows}
    for row in rows:
        received = pickle.loads(pickle.dumps(row))
        assert received == row and row == received
        assert received.params == row.params and received.metrics == row.metrics
        assert received.derived == row.derived and received.objectives == row.objectives
        assert received.stored_json == row.stored_json
        assert (received.status, received.reason, received.feasible) == (
            row.status,
            row.reason,
            row.feasible,
        )
        assert pickle.loads(pickle.dumps(received)) == row  # sent on again (Ray)


def test_warm_heap_freezes_once_and_gives_back() -> None:
    """The inline runner freezes the heap after its first batch and unfreezes it at close;
    a heap someone else froze is left to them."""
    import gc

    from tigris.explore.runners import InlineRunner, WarmHeap

    gc.unfreeze()  # whatever an earlier test left (unfreezing changes no result)
    sweep = load_sweep(EXAMPLE)
    runner = InlineRunner(sweep)
    runner.submit([{a.path: a.values[0] for a in sweep.axes}])
    assert gc.get_freeze_count() > 0
    runner.close()
    assert gc.get_freeze_count() == 0

    gc.freeze()  # someone else's
    try:
        heap = WarmHeap()
        heap.freeze()
        assert not heap.frozen
        heap.release()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_flat_store_json_is_the_plain_encoding() -> None:
    """Parameters and derived values are stored as joined, memoised fragments: the same
    text as json.dumps(sort_keys=True), zeros, booleans, NaN and odd values included."""
    from tigris.explore.evaluate import flat_stored_json, stored_json

    cases = [
        {},
        {"b": 1, "a": 2.5},
        {"a": True, "b": 1, "c": 1.0},
        {"x": -0.0},
        {"x": 0},
        {"x": 0.0, "y": False},
        {"x": float("nan"), "y": float("inf")},
        {"x": 's"q', "y": None},
        {"x": [1, 2]},  # unhashable: the plain encoding
        {1: 2},  # a key that is not text
        {"é": 1e300},
    ]
    for values in cases:
        for _ in range(2):  # the second time from the memoised fragments
            assert flat_stored_json(values) == stored_json(values)


def test_pool_workers_warmed_in_the_parent_give_the_inline_rows() -> None:
    """Forked workers inherit one Evaluator that evaluated a few designs in the parent:
    their rows equal those of the inline runner."""
    from tigris.explore.runners import InlineRunner, PoolRunner

    sweep = load_sweep(EXAMPLE)
    rng = random.Random(11)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(48)]
    inline = InlineRunner(sweep)
    inline.submit(designs)
    expected = {row.design_id: row for rows in inline.finished() for row in rows}
    inline.close()
    pool = PoolRunner(sweep, 2)
    try:
        for first in range(0, len(designs), 12):
            pool.submit(designs[first : first + 12])
        received = []
        while pool.in_flight():
            received += [row for rows in pool.finished() for row in rows]
    finally:
        pool.close()
    assert {row.status for row in received} >= {"ok", "infeasible"}
    assert len(received) == len(designs)  # a design drawn twice is evaluated twice
    for row in received:
        want = expected[row.design_id]
        assert (row.status, row.reason, row.params, row.derived) == (
            want.status, want.reason, want.params, want.derived
        )  # fmt: skip
        assert row.metrics == want.metrics and row.objectives == want.objectives
        assert row.stored_json == want.stored_json


def _fields(row: Evaluation) -> tuple:
    """A row's fields but the seconds it took."""
    return (row.design_id, row.params, row.derived, row.status, row.reason) + (
        row.objectives,
        row.metrics,
    )


def test_rows_do_not_depend_on_the_memo() -> None:
    """The step model's memo (tigris.parallel.step_memo: TIGRIS_NO_MEMO=1 or no_memo())
    and a batch's steps evaluated together (StepMemo.evaluate_many) only save work: with
    the memo off every design's step is the pure model's, its ops timed one by one on
    the chip, and the rows are the same, bit for bit."""
    sweep = load_sweep(EXAMPLE)
    rng = random.Random(13)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(40)]
    memo_on = Evaluator(sweep).evaluate_batch(designs)
    with no_memo():
        memo_off = Evaluator(sweep).evaluate_batch(designs)
    assert sum(row.status == "ok" for row in memo_on) >= 8
    assert [_fields(row) for row in memo_on] == [_fields(row) for row in memo_off]


def test_steps_evaluated_together_equal_each_alone() -> None:
    """StepMemo.evaluate_many (the tile engine's times over the batch's chips) gives the
    StepResult of StepModel(setup).evaluate(plan) for every chip: times, parts, memory."""
    sweep = load_sweep(EXAMPLE)
    rng = random.Random(17)
    chips = [
        sweep.space.build({a.path: rng.choice(a.values) for a in sweep.axes})[0] for _ in range(12)
    ]
    workload = sweep.workloads[0]
    spec, cluster = load_model(workload.model), load_cluster("tigris-1-pod")
    plan = ParallelPlan.model_validate(workload.plan)
    setups = [
        TrainSetup(spec, chip, cluster, workload.num_chips, workload.global_batch, 8192)
        for chip in chips
    ]
    together = StepMemo().evaluate_many(setups, plan)
    for setup, result in zip(setups, together, strict=True):
        with no_memo():
            alone = StepModel(setup).evaluate(plan)
        assert result.seconds == alone.seconds and result.step_time_s == alone.step_time_s
        assert result.memory == alone.memory and result.peak_flop_per_s == alone.peak_flop_per_s
        assert result.tree == alone.tree  # the flop and bytes read from the same ops


NO_MEMO_SWEEP = EXAMPLE.read_text().replace(
    "search: {sampler: grid, seed: 0, batch: 64}", "search: {sampler: random, seed: 5, batch: 16}"
)


def test_explore_run_with_the_memo_off_stores_the_same_rows(tmp_path: Path) -> None:
    """`tigris explore run` with TIGRIS_NO_MEMO=1 (the pure models, nothing memoised, no
    op times shared between designs) stores the rows it stores with the memo: the speed
    comes from caches outside the models, never from a different model."""
    import os
    import subprocess
    import sys

    from tigris.explore import Store

    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(NO_MEMO_SWEEP)
    stored = {}
    for memo in ("1", "0"):
        db = tmp_path / f"no-memo-{memo}.duckdb"
        env = {**os.environ, "TIGRIS_NO_MEMO": memo}
        args = ["explore", "run", str(sweep_file), "--db", str(db), "--samples", "48"]
        result = subprocess.run(
            [sys.executable, "-m", "tigris", *args, "--quiet", "--json"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        sweep = load_sweep(sweep_file)
        with Store(db, read_only=True) as store:
            stored[memo] = sorted(map(_fields, store.evaluations(sweep.sweep_hash)))
    assert len(stored["1"]) >= 48 and any(row[3] == "ok" for row in stored["1"])
    assert stored["1"] == stored["0"]
