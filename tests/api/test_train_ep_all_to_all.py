"""`tigris train --ep-all-to-all nccl|deepep` (tigris.api.train's `ep_all_to_all`): the
expert exchange of an expert-parallel run through NCCL or DeepEP's kernels."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tigris.api import train

FIXED = {"tp": 1, "pp": 1, "dp": 8, "ep": 8, "micro_batch": 1, "recompute": "none", "zero": 1}


def _step_s(**options: object) -> float:
    found = train("qwen3-30b-a3b", chip="h100-sxm", num_chips=8, global_batch=16,
                  seq_len=2048, **FIXED, **options)  # fmt: skip
    return found.best.step_time_s


def test_nccl_is_the_default_and_deepep_changes_the_expert_exchange() -> None:
    default = _step_s()
    assert _step_s(ep_all_to_all="nccl") == default
    assert _step_s(ep_all_to_all="deepep") != pytest.approx(default, rel=1e-6)


def test_an_unknown_exchange_exits_2_naming_the_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tigris", "train", "qwen3-30b-a3b", "--chip", "h100-sxm",
         "--num-chips", "8", "--global-batch", "16", "--seq-len", "2048",
         "--ep-all-to-all", "nvshmem"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--ep-all-to-all" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
