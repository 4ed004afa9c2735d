"""An evaluation reports what the owning models compute, and declines cleanly without them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from explore_sweeps import PREFILL, write_sweep

from tigris.engines.base import get_engine
from tigris.explore import Evaluator, load_sweep
from tigris.hardware.chip import Chip
from tigris.hardware.presets import chip_path, load_chip, load_cluster
from tigris.io.loader import load_mapping, validate_spec
from tigris.io.overrides import apply_override
from tigris.workload import decode_graph, load_model, prefill_graph

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "better-tigris-1.yaml"


def chip_with(settings: dict[str, object]) -> Chip:
    """The preset with overrides applied the --set way (an oracle for the design builder)."""
    data = load_mapping(chip_path("tigris-1"))
    for dotted, value in settings.items():
        data = apply_override(data, dotted, value)
    return validate_spec(Chip, data)


def graph_time_s(graph, chip) -> float:
    engine = get_engine("tile")
    return sum(count * engine.time(op, chip).time_s for op, count in graph.iter_ops())


def test_single_chip_objectives_match_the_tile_engine(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, PREFILL, num_bw=2, batch=8))
    params = {
        "matrix.rows": 64,
        "matrix.cols": 128,
        "matrix.clock": 1.5e9,
        "memory.dram.bandwidth": 2e12,
    }
    row = Evaluator(sweep).evaluate(params)
    assert row.status == "ok", row.reason
    chip = chip_with(
        {
            "matrix.rows": 64,
            "matrix.cols": 128,
            "matrix.clock": "1.5 GHz",
            "memory.dram.bandwidth": "2 TB/s",
        }
    )
    spec = load_model("llama3-8b")
    prefill_s = graph_time_s(prefill_graph(spec, 1, 512), chip)
    decode_s = graph_time_s(decode_graph(spec, 8, 1024), chip)
    metrics = row.metrics
    assert metrics["prefill-8b"]["latency_s"] == pytest.approx(prefill_s, rel=1e-12)
    assert metrics["prefill-8b"]["tokens_per_s"] == pytest.approx(512 / prefill_s, rel=1e-12)
    assert metrics["decode-8b"]["tokens_per_s"] == pytest.approx(8 / decode_s, rel=1e-12)
    # tokens/s over both workloads: weighted geometric mean (weights 1 and 0.5)
    expected = ((512 / prefill_s) ** 1 * (8 / decode_s) ** 0.5) ** (1 / 1.5)
    assert row.objectives["tokens_per_s"] == pytest.approx(expected, rel=1e-12)
    assert row.objectives["latency_s@prefill-8b"] == pytest.approx(prefill_s, rel=1e-12)
    assert row.derived["pes"] == 4 * 8 * 64 * 128


def test_constraint_over_derived_value_marks_infeasible(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, PREFILL, num_bw=2, batch=8))
    params = {
        "matrix.rows": 256,
        "matrix.cols": 256,
        "matrix.clock": 1e9,
        "memory.dram.bandwidth": 2e12,
    }
    row = Evaluator(sweep).evaluate(params)
    assert row.status == "infeasible"
    assert row.reason == f"pes = {4 * 8 * 256 * 256:g} > max 600000"
    assert row.objectives == {"tokens_per_s": None, "latency_s@prefill-8b": None}


def test_example_base_point_equals_the_training_step_model() -> None:
    from tigris.parallel.plan import ParallelPlan
    from tigris.parallel.step import StepModel, TrainSetup

    sweep = load_sweep(EXAMPLE)
    params = sweep.base_params()
    assert params is not None
    row = Evaluator(sweep).evaluate(params)
    assert row.status == "ok", row.reason
    workload = sweep.workloads[0]
    chip = load_chip("tigris-1")
    setup = TrainSetup(
        spec=load_model("llama3-70b"),
        chip=chip,
        cluster=load_cluster("tigris-1-pod"),
        num_chips=workload.num_chips,
        global_batch=workload.global_batch,
        seq_len=workload.seq_len,
    )
    direct = StepModel(setup).evaluate(ParallelPlan(**workload.plan))
    # derived HBM bandwidth is 6 x (7 TB/s / 6): equal to the preset up to rounding
    assert row.objectives["tokens_per_s"] == pytest.approx(direct.tokens_per_s, rel=1e-9)
    assert row.metrics["train-llama3-70b"]["time_to_train_s"] == pytest.approx(
        15e12 / direct.tokens_per_s, rel=1e-9
    )


def test_missing_cost_model_declines_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tigris.cost", None)  # import now raises ImportError
    sweep = load_sweep(EXAMPLE)  # its cost constraints cannot be checked now: not an error
    row = Evaluator(sweep).evaluate(sweep.base_params())
    assert row.status == "unavailable"
    assert "tigris.cost" in row.reason
    assert row.objectives["tokens_per_s"] is None


def test_missing_training_model_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = load_sweep(EXAMPLE)
    monkeypatch.setitem(sys.modules, "tigris.parallel.step", None)
    row = Evaluator(sweep).evaluate(sweep.base_params())
    assert row.status == "unavailable"
    assert "tokens_per_s@train-llama3-70b" in row.reason
    assert "tigris.parallel.step" in row.reason
    assert row.metrics["train-llama3-70b"]["unavailable"].startswith("the training objectives")
