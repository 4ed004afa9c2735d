"""The KV cache's share of device memory: vLLM's rule (a share of the total, weights and
activations included) against TensorRT-LLM's (a share of what they leave free)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.errors import SpecError
from tigris.serving.deployment import build_deployment
from tigris.serving.engines import load_engine
from tigris.serving.memory import plan_memory


def _plan(rule: str):
    deployment = build_deployment(
        "llama2-70b", "h100-sxm", num_chips=2, compute_dtype="fp8", memory_utilization_of=rule
    )
    return plan_memory(deployment), deployment.chip.dram_capacity_bytes


def test_vllm_share_is_of_the_total_and_trtllm_share_of_the_free_memory():
    total, capacity = _plan("total")
    free, _ = _plan("free")
    used = total.weights_bytes + total.activations_bytes
    assert total.kv_cache_bytes == pytest.approx(0.9 * capacity - used)
    assert free.kv_cache_bytes == pytest.approx(0.9 * (capacity - used))
    # TensorRT-LLM leaves 10 % of the free memory, not 10 % of the device: more KV
    assert free.kv_cache_bytes - total.kv_cache_bytes == pytest.approx(0.1 * used)
    assert free.usable_bytes == pytest.approx(used + free.kv_cache_bytes)
    assert total.usable_bytes == pytest.approx(0.9 * capacity)


def test_engine_profiles_carry_their_rule():
    memory = 80e9
    assert load_engine("trtllm", memory).deployment_settings()["memory_utilization_of"] == "free"
    vllm = load_engine("vllm", memory).deployment_settings()
    assert (vllm["memory_utilization"], vllm["memory_utilization_of"]) == (0.9, "total")
    # SGLang's profile names no rule: the Deployment's default (vLLM's)
    assert load_engine("sglang", memory).memory_utilization_of == "total"


def test_an_unknown_share_is_a_spec_error():
    with pytest.raises(SpecError, match="memory share"):
        build_deployment("llama3-8b", "h100-sxm", memory_utilization_of="half")


def _serve(engine: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tigris", "serve", "qwen2-72b", "--chip", "h100-sxm"]
    command += ["--compute-dtype", "fp8", "--engine", engine, "--num-requests", "8"]
    command += ["--input-len", "256", "--output-len", "16", "--json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_serve_cli_sizes_the_kv_cache_by_the_engine_rule():
    """Qwen2-72B in fp8 (75 GB with its bf16 embeddings) on one H100 (85.5 GB): under
    vLLM's rule 0.9 of the device is less than weights and activations (infeasible, exit
    3); TensorRT-LLM's 0.9 of what they leave free holds about 43k tokens (exit 0)."""
    vllm = _serve("vllm")
    assert vllm.returncode == 3, vllm.stderr
    assert "Traceback" not in vllm.stderr and "does not fit" in vllm.stderr
    assert len(vllm.stderr.strip().splitlines()) <= 2
    trtllm = _serve("trtllm")
    assert trtllm.returncode == 0, trtllm.stderr
    assert json.loads(trtllm.stdout)["num_requests"] == 8
