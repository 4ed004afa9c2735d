"""The training step, plan search and the training command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tigris.errors import InfeasibleError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.search import search_plans
from tigris.parallel.step import StepModel, TrainSetup, model_flop_per_token
from tigris.workload import load_model

GPT3 = load_model("gpt3-175b")
H100, DGX = load_chip("h100-sxm"), load_cluster("dgx-h100")
LLAMA = load_model("llama3-8b")


def model_for(spec, chips, batch, seq=2048):
    return StepModel(TrainSetup(spec, H100, DGX, chips, batch, seq))


def leaves(node):
    return [node] if not node.children else [x for c in node.children for x in leaves(c)]


def test_breakdown_adds_up_and_metrics_agree():
    model = model_for(GPT3, 1024, 1536)
    plan = ParallelPlan(tp=8, pp=8, dp=16, micro_batch=1, recompute="full", sequence_parallel=True)
    result = model.evaluate(plan)
    assert sum(leaf.time_s for leaf in leaves(result.breakdown)) == pytest.approx(
        result.step_time_s
    )
    assert result.tokens_per_s == pytest.approx(1536 * 2048 / result.step_time_s)
    assert result.hfu > result.mfu  # recompute counted in HFU only
    assert 0.2 < result.mfu < 0.8
    per_token = 6 * GPT3.num_matmul_params() + 12 * GPT3.num_layers * GPT3.q_size * 2048
    assert model_flop_per_token(GPT3, 2048) == per_token
    assert result.time_to_train_s(3e11) == pytest.approx(3e11 / result.tokens_per_s)


def test_more_microbatches_shrink_the_bubble():
    model = model_for(GPT3, 1024, 1536)
    few = model.evaluate(ParallelPlan(tp=8, pp=16, dp=8, micro_batch=4, recompute="full"))
    many = model.evaluate(ParallelPlan(tp=8, pp=16, dp=8, micro_batch=1, recompute="full"))
    bubble = lambda r: next(c for c in r.breakdown.children if c.name == "pipeline bubble")  # noqa: E731
    assert bubble(many).time_s / many.step_time_s < bubble(few).time_s / few.step_time_s


def test_full_recompute_costs_a_forward():
    model = model_for(LLAMA, 8, 64, 4096)
    base = ParallelPlan(tp=1, pp=1, dp=8, micro_batch=1, zero=3)
    none = model.evaluate(base)
    full = model.evaluate(base.model_copy(update={"recompute": "full"}))
    assert 1.2 < full.step_time_s / none.step_time_s < 1.45
    assert full.memory.activations_bytes < none.memory.activations_bytes


def test_faster_network_never_slower():
    plan = ParallelPlan(tp=8, pp=4, dp=32, micro_batch=1, recompute="full")
    slow = model_for(GPT3, 1024, 1536).evaluate(plan)
    tier = DGX.scale_out[0].model_copy(update={"bandwidth_unidir_per_chip": 400e9})
    fast_cluster = DGX.model_copy(update={"scale_out": [tier]})
    fast = StepModel(TrainSetup(GPT3, H100, fast_cluster, 1024, 1536, 2048)).evaluate(plan)
    assert fast.step_time_s <= slow.step_time_s


def test_search_gpt3_1024_h100():
    found = search_plans(TrainSetup(GPT3, H100, DGX, 1024, 1536, 2048), top_k=3)
    assert found.num_searched > 1000 and found.num_fit > 0
    assert found.best.fits
    times = [r.step_time_s for r in found.top]
    assert times == sorted(times) and found.best.step_time_s == times[0]


def test_search_with_nothing_fitting_is_infeasible():
    with pytest.raises(InfeasibleError, match="fits"):
        search_plans(TrainSetup(GPT3, H100, DGX, 8, 8, 2048))


def _app():
    from tigris.cli import app, validate_app
    from tigris.cli.train import register

    if not any(c.name == "train" for c in app.registered_commands):
        register(app, validate_app)
    return app


ARGS = [
    "train",
    "llama3-8b",
    "--chip",
    "h100-sxm",
    "--num-chips",
    "16",
    "--global-batch",
    "64",
    "--seq-len",
    "4096",
]


def test_train_command_json_keys():
    result = CliRunner().invoke(_app(), ARGS + ["--tp", "2", "--json", "--tokens", "1e12"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "step_time_s",
        "mfu",
        "hfu",
        "tokens_per_s",
        "model_flop_per_s_per_chip",
        "hardware_flop_per_s_per_chip",
        "memory_per_chip_bytes",
        "fits",
        "plan",
    ):
        assert key in data
    assert set(data["plan"]) == {
        "tp",
        "pp",
        "dp",
        "cp",
        "ep",
        "micro_batch",
        "virtual_stages",
        "recompute",
        "zero",
        "sequence_parallel",
    }
    assert data["plan"]["tp"] == 2 and data["time_to_train_s"] > 0


def test_train_command_prints_plans_searched():
    result = CliRunner().invoke(_app(), ARGS)
    assert result.exit_code == 0
    assert "plans searched" in result.output


@pytest.mark.parametrize(
    "extra", [["--tp", "3", "--pp", "1", "--dp", "5"], ["--recompute", "some"], ["--dtype", "int3"]]
)
def test_train_command_bad_arguments_exit_2(extra, tmp_path):
    import subprocess
    import sys

    code = "import sys; from tigris.cli import main; sys.argv=['tigris'] + sys.argv[1:]; main()"
    run = subprocess.run(
        [sys.executable, "-c", code, *ARGS, *extra], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) <= 2


def test_divisors_match_brute_force_and_scale_to_huge_counts():
    from tigris.parallel.search import divisors

    for n in range(1, 300):
        assert divisors(n) == [d for d in range(1, n + 1) if n % d == 0]
    # 10^12 = 2^12 5^12 has 13 * 13 divisors; a linear scan would not finish
    divisors = divisors(10**12)
    assert len(divisors) == 169 and divisors[0] == 1 and divisors[-1] == 10**12
    assert divisors == sorted(divisors)
