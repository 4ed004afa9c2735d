"""The plan search's pipeline sizes (tigris.parallel.search.pipeline_sizes): the pp a
practitioner runs unless the caller fixes pp, and the plan maker's copies."""

from __future__ import annotations

import subprocess
import sys

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.search import enumerate_plans, pipeline_sizes
from tigris.parallel.step import TrainSetup
from tigris.workload import load_model


def test_pipeline_sizes_are_divisors_of_layers_layers_plus_two_and_powers_of_two() -> None:
    # 240 chips, 80 layers: 3, 6, 12, 15, 24, 30, 48, 60 divide the chips but fit no rule
    assert pipeline_sizes(80, 240) == [1, 2, 4, 5, 8, 10, 16, 20, 40, 80]
    assert pipeline_sizes(126, 4096) == [1, 2, 4, 8, 16, 32, 64]  # Llama 3.1 405B at pp 16
    assert 16 in pipeline_sizes(61, 2048)  # DeepSeek-V3's uneven 16 stages


def test_a_fixed_pp_outside_the_rule_is_searched() -> None:
    setup = TrainSetup(
        load_model("llama3-70b"), load_chip("h100-sxm"), load_cluster("dgx-h100"), 48, 48, 4096
    )
    plans = list(enumerate_plans(setup, {"pp": 3, "tp": 8}))
    assert plans and {plan.pp for plan in plans} == {3}
    assert {plan.pp_layers for plan in plans} == {(26, 27, 27)}  # 80 layers, uneven


def test_cli_trains_at_a_pp_the_search_does_not_try() -> None:
    """`tigris train llama3-70b --pp 3` (80 layers, not a practitioner's pp): exit 0."""
    args = ["train", "llama3-70b", "--chip", "h100-sxm", "--num-chips", "48"]
    args += ["--global-batch", "48", "--seq-len", "4096", "--pp", "3", "--tp", "8", "--json"]
    out = subprocess.run([sys.executable, "-m", "tigris", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert '"pp": 3' in out.stdout
