"""An evaluation reports what the owning models compute, and declines cleanly without them."""

from __future__ import annotations

import subprocess
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


def _raises(error: Exception):
    def model(*args: object, **kwargs: object) -> None:
        raise error

    return model


def test_a_bug_inside_a_model_is_an_error_not_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TypeError or AttributeError inside a model is a bug: it propagates with its
    traceback instead of becoming an 'unavailable' row (missing data)."""
    import tigris.cost as cost

    sweep = load_sweep(EXAMPLE)
    monkeypatch.setattr(cost, "estimate_area", _raises(TypeError("a bug in the area model")))
    with pytest.raises(TypeError, match="a bug in the area model"):
        Evaluator(sweep).evaluate(sweep.base_params())
    monkeypatch.undo()
    monkeypatch.setattr(cost, "tco", _raises(AttributeError("a bug in the TCO model")))
    with pytest.raises(AttributeError, match="a bug in the TCO model"):
        Evaluator(sweep).evaluate_batch([sweep.base_params()] * 2)


def test_a_design_the_model_declines_is_a_row_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """UnsupportedError, the model's own "this design cannot run this", is recorded."""
    import tigris.cost as cost
    from tigris.errors import UnsupportedError

    sweep = load_sweep(EXAMPLE)
    monkeypatch.setattr(cost, "estimate_tdp", _raises(UnsupportedError("no TDP model here")))
    row = Evaluator(sweep).evaluate(sweep.base_params())
    assert row.status == "infeasible"
    assert row.reason is not None and row.reason.endswith("no TDP model here")
    assert row.objectives["tokens_per_s"] is None


BROKEN_AREA_RUN = """
import sys
import tigris.cost as cost

def broken(*args, **kwargs):
    raise TypeError("a bug in the area model")

cost.estimate_area = broken
from tigris.cli.app import main
sys.argv = ["tigris", "explore", "run", *sys.argv[1:]]
main()
"""


def test_a_bug_inside_a_model_stops_the_command_with_its_traceback(tmp_path: Path) -> None:
    db = tmp_path / "run.duckdb"
    args = [str(EXAMPLE), "--db", str(db), "--samples", "4", "--quiet", "--json"]
    result = subprocess.run(
        [sys.executable, "-c", BROKEN_AREA_RUN, *args], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" in result.stderr
    assert "TypeError: a bug in the area model" in result.stderr
    assert result.stdout == ""
