"""Issue 18's "must show": the Azure code and conversation traces replay through colocated
and disaggregated serving on H100, H200, B200, MI300X, TPU v5p and tigris-1, and on a mixed
pool (prefill on H100, decode on tigris-1), with per-pool figures; requests and tokens are
conserved. Each cell replays the trace's first 60 s (bench/serve_trace_matrix.py runs the
whole traces)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tigris.api.disaggregated import serve_disaggregated
from tigris.api.serving import serve
from tigris.serving.engines import ServingOptions
from tigris.serving.requests import shape_workload
from tigris.serving.trace import read_trace
from tigris.workload.presets import load_model

CHIPS = ("h100-sxm", "h200-sxm", "b200", "mi300x", "tpu-v5p", "tigris-1")
TRACES = ("azure-code", "azure-conv")
DURATION_S = 60.0
# Llama-3-70B with Llama-3.1's 131,072-token context (same weights and shapes): the
# conversation trace holds prompts beyond the 8,192 tokens of the llama3-70b preset
SPEC = load_model("llama3-70b").model_copy(update={"max_position_embeddings": 131072})
OPTIONS = ServingOptions(duration_s=DURATION_S)
SLO = {"slo_ttft_s": 2.0, "slo_tpot_s": 0.2}


def _requests(trace: str) -> tuple[int, int, int]:
    """(requests, prompt tokens, output tokens) of the trace's first DURATION_S seconds."""
    w = shape_workload(read_trace(trace), duration_s=DURATION_S)
    return w.num_requests, int(w.input_len.sum()), int(w.output_len.sum())


def _assert_conserved(out: dict, trace: str) -> None:
    """Every request served once; the tokens the rates imply are the trace's tokens."""
    requests, prompt_tokens, output_tokens = _requests(trace)
    assert out["num_requests"] == requests
    duration = out["duration_s"]
    assert math.isclose(out["throughput_tokens_per_s"] * duration, output_tokens, rel_tol=1e-9)
    assert math.isclose(out["input_tokens_per_s"] * duration, prompt_tokens, rel_tol=1e-9)
    assert all(math.isfinite(out[k]) for k in ("ttft_p99_s", "tpot_p99_s", "e2e_p99_s"))
    assert 0.0 <= out["slo_attainment"] <= 1.0


@pytest.mark.parametrize("trace", TRACES)
@pytest.mark.parametrize("chip", CHIPS)
def test_colocated_replay(chip: str, trace: str) -> None:
    out = serve(SPEC, chip=chip, num_chips=8, scenario="replay", trace=trace, options=OPTIONS,
                **SLO).to_dict()  # fmt: skip
    _assert_conserved(out, trace)
    # the one pool's figures: engine time within the run, power, KV occupancy
    assert 0 < out["engine_busy_s"] <= out["num_replicas"] * out["duration_s"] * (1 + 1e-9)
    assert out["power_node_wall_w"] > 0 and 0 < out["kv_occupancy_max"] <= 1


def _assert_pools(out: dict, trace: str, prefill_chip: str, decode_chip: str) -> None:
    requests, prompt_tokens, output_tokens = _requests(trace)
    prefill, decode = out["pools"]["prefill"], out["pools"]["decode"]
    assert (prefill["chip"], decode["chip"]) == (prefill_chip, decode_chip)
    # the prefill pool computes every prompt and the first token, the decode pool the rest
    assert (prefill["input_tokens"], prefill["output_tokens"]) == (prompt_tokens, requests)
    assert decode["output_tokens"] == output_tokens
    for pool in (prefill, decode):
        assert 0 < pool["utilization"] <= 1 + 1e-9
        assert pool["pool_power_node_wall_w"] > 0 and pool["memory_per_chip"]["kv_cache_bytes"] > 0
    transfer = out["kv_transfer"]
    assert transfer["bytes_total"] > 0 and 0 < transfer["time_p99_s"] < out["ttft_p99_s"]


@pytest.mark.parametrize("trace", TRACES)
@pytest.mark.parametrize("chip", CHIPS)
def test_disaggregated_replay(chip: str, trace: str) -> None:
    out = serve_disaggregated(SPEC, prefill=f"{chip}:8", decode=f"{chip}:8", scenario="replay",
                              trace=trace, options=OPTIONS, **SLO)  # fmt: skip
    _assert_conserved(out, trace)
    _assert_pools(out, trace, chip, chip)


@pytest.mark.parametrize("trace", TRACES)
def test_mixed_pools_replay(trace: str) -> None:
    """Prefill on H100, decode on tigris-1: KV crosses both systems' scale-out networks."""
    out = serve_disaggregated(SPEC, prefill="h100-sxm:8", decode="tigris-1:8", scenario="replay",
                              trace=trace, options=OPTIONS, **SLO)  # fmt: skip
    _assert_conserved(out, trace)
    _assert_pools(out, trace, "h100-sxm", "tigris-1")
    assert "->" in out["kv_transfer"]["link"] and not out["kv_transfer"]["scale_up"]


def test_cli_mixed_pools_take_the_trace_options() -> None:
    """--duration, --sample and the prefix cache reach a disaggregated run from the CLI
    (the prefix cache on the prefill pool)."""
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "serve", "llama3-8b", "--disaggregate",
         "--prefill", "h100-sxm:1", "--decode", "tigris-1:2", "--trace", "azure-conv",
         "--scenario", "replay", "--duration", "120", "--sample", "150",
         "--prefix-share", "0.5", "--engine", "vllm", "--json", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    out = json.loads(result.stdout)
    assert out["num_requests"] == 150
    cache = out["pools"]["prefill"]["prefix_cache"]
    assert 0.2 < cache["hit_rate"] <= 0.5
    assert "prefix_cache" not in out["pools"]["decode"]
