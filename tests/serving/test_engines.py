"""Engine profiles: sourced values, mapped onto the simulator, selectable from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.errors import SpecError
from tigris.serving.engines import UNBOUNDED_SEQS, engine_names, load_engine

H100 = 80e9


def test_profiles_carry_their_documented_defaults():
    vllm, sglang, trtllm = (load_engine(name, H100) for name in ("vllm", "sglang", "trtllm"))
    assert (vllm.max_num_seqs, vllm.token_budget, vllm.block_size) == (1024, 8192, 16)
    assert vllm.simulator_chunked and not vllm.prefill_first
    assert (sglang.max_num_seqs, sglang.token_budget, sglang.block_size) == (
        UNBOUNDED_SEQS, 8192, 1,
    )  # fmt: skip
    assert sglang.prefill_first
    assert (trtllm.max_num_seqs, trtllm.token_budget, trtllm.block_size) == (2048, 8192, 32)
    assert all(p.preemption == "recompute" and p.source.startswith("https://")
               for p in (vllm, sglang, trtllm))  # fmt: skip


def test_defaults_follow_the_gpu_memory():
    assert load_engine("vllm", 40e9).token_budget == 2048  # under 70 GiB
    assert load_engine("sglang", 24e9).token_budget == 2048
    assert load_engine("sglang", 192e9).token_budget == 16384


def test_unknown_engine_is_named():
    with pytest.raises(SpecError, match="--engine"):
        load_engine("tgi", H100)
    assert engine_names() == ("vllm", "sglang", "trtllm")


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_cli_replays_a_trace_under_each_engine(engine):
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "serve", "llama3-8b", "--trace", "azure-code",
         "--scenario", "replay", "--duration", "60", "--engine", engine,
         "--prefix-share", "0.5", "--json", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == engine and data["scenario"] == "replay"
    cache = data["prefix_cache"]
    assert 0.3 < cache["hit_rate"] <= 0.5
    assert data["ttft_mean_s"] <= cache["ttft_mean_s_without_cache"]


@pytest.mark.parametrize("scenario", ["offline", "server"])
def test_prefix_cache_runs_in_every_scenario(scenario):
    """The prefix cache and the trace options reach offline and server runs too (they
    were refused outside replay): hits are reported and never raise TTFT."""
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "serve", "llama3-8b", "--trace", "azure-code",
         "--scenario", scenario, "--sample", "200", "--prefix-share", "0.5", "--json",
         "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    assert data["num_requests"] == 200
    cache = data["prefix_cache"]
    assert 0.3 < cache["hit_rate"] <= 0.5
    if scenario == "offline":
        assert data["ttft_mean_s"] <= cache["ttft_mean_s_without_cache"]
