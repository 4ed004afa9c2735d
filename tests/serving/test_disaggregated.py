"""Disaggregated serving: properties of the two-pool simulation, the KV transfer, the
layout search, and the CLI's handling of pool specs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from tigris.serving.deployment import build_deployment
from tigris.serving.disaggregated import simulate_disaggregated, summarize_disaggregated
from tigris.serving.kv_transfer import kv_link
from tigris.serving.metrics import summarize
from tigris.serving.requests import synthetic_workload
from tigris.serving.simulator import simulate


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def pools(prefill_chips: int, decode_chips: int, decode_chip: str = "h100-sxm"):
    p = build_deployment("llama3-8b", "h100-sxm", num_chips=prefill_chips, tp=1)
    d = build_deployment("llama3-8b", decode_chip, num_chips=decode_chips, tp=1)
    return p, d


def test_requests_and_tokens_are_conserved_across_pools() -> None:
    w = synthetic_workload(400, 1024, 64, rate_per_s=20, seed=3, length_dist="lognormal")
    p, d = pools(2, 2)
    r = simulate_disaggregated(p, d, w)
    # every request went through both pools exactly once and finished
    assert r.prefill.workload.num_requests == r.decode.workload.num_requests == 400
    assert int(r.prefill.workload.input_len.sum()) == int(w.input_len.sum())
    assert int(r.decode.workload.output_len.sum()) == int(w.output_len.sum())
    assert np.isfinite(r.combined.finish_s).all()
    # causality: prefill after arrival, KV lands after prefill, first token after landing
    assert (r.prefill_done_s > w.arrival_s).all()
    assert (r.transfers.end_s > r.prefill_done_s).all()
    assert (r.combined.first_token_s >= r.transfers.end_s - 1e-12).all()
    assert (r.combined.finish_s >= r.combined.first_token_s).all()
    out = summarize_disaggregated(p, d, r, 1.0, 0.1)
    assert out["pools"]["decode"]["output_tokens"] == int(w.output_len.sum())
    assert out["pools"]["prefill"]["input_tokens"] == int(w.input_len.sum())
    assert 0 < out["pools"]["prefill"]["utilization"] <= 1
    assert out["kv_transfer"]["bytes_total"] == pytest.approx(
        out["kv_transfer"]["bytes_per_request_mean"] * 400
    )


def test_halving_link_bandwidth_lengthens_kv_transfers() -> None:
    # different chips: the scale-out network carries the KV
    w = synthetic_workload(200, 2048, 16, rate_per_s=40, seed=0, length_dist="exponential")
    p, d = pools(2, 2, decode_chip="a100-sxm-80gb")
    full = kv_link(p, d)
    half = kv_link(p, d, bandwidth_scale=0.5)
    assert not full.scale_up
    assert half.bandwidth_bytes_per_s == pytest.approx(full.bandwidth_bytes_per_s / 2)
    fast = simulate_disaggregated(p, d, w, link=full)
    slow = simulate_disaggregated(p, d, w, link=half)
    fast_s = fast.transfers.end_s - fast.prefill_done_s
    slow_s = slow.transfers.end_s - slow.prefill_done_s
    assert (slow_s > fast_s).all()
    assert slow_s.mean() > 1.5 * fast_s.mean()  # latency is a small part of it


def test_one_nvlink_domain_uses_scale_up_links() -> None:
    p, d = pools(4, 4)  # 8 H100 in one DGX node
    assert kv_link(p, d).scale_up
    p16, d16 = pools(8, 8)  # 16 chips: two nodes, over InfiniBand
    assert not kv_link(p16, d16).scale_up


def test_prefill_heavy_traffic_under_tight_slos_gets_colocated_goodput() -> None:
    """Setup: llama3-8b on 4 H100 (tp=1), prompts of mean 2,048 tokens (exponential),
    outputs of mean 32, Poisson 30 requests/s; SLO p99 TTFT 0.25 s and TPOT 20 ms.
    Colocated: 4 replicas of the vLLM-style scheduler. Disaggregated: the best split of
    the same 4 chips into prefill and decode pools (as a layout search would pick)."""
    w = synthetic_workload(600, 2048, 32, rate_per_s=30, seed=1, length_dist="exponential")
    slo = (0.25, 0.02)
    colocated = build_deployment("llama3-8b", "h100-sxm", num_chips=4, tp=1)
    coloc = summarize(simulate(colocated, w), *slo)["goodput_requests_per_s"]
    best = max(
        summarize(simulate_disaggregated(*pools(k, 4 - k), w).combined, *slo)[
            "goodput_requests_per_s"
        ]
        for k in (1, 2, 3)
    )
    assert best >= coloc


def test_same_seed_same_result() -> None:
    from tigris.api.disaggregated import serve_disaggregated

    def run(seed: int) -> dict:
        return serve_disaggregated(
            "llama3-8b", prefill="h100-sxm:1", decode="h100-sxm:1", rate_per_s=10,
            num_requests=150, length_dist="lognormal", seed=seed, slo_ttft_s=0.5,
            slo_tpot_s=0.05,
        )  # fmt: skip

    assert json.dumps(run(7), default=float) == json.dumps(run(7), default=float)
    assert json.dumps(run(7), default=float) != json.dumps(run(8), default=float)


def test_layout_search_picks_the_cheapest_layout_meeting_the_slo() -> None:
    from tigris.cost.tco import usd_per_chip_hour
    from tigris.serving.layout_search import search_layouts

    w = synthetic_workload(120, 1024, 32, rate_per_s=8, seed=0, length_dist="exponential")
    base = build_deployment("llama3-8b", "h100-sxm", num_chips=1)
    chip = base.chip
    out = search_layouts(base, chip, chip, 2, 2, w, 0.5, 0.03, price=usd_per_chip_hour)
    assert out["num_layouts"] == 9  # (tp 1 x 1-2, tp 2 x 1) for each pool
    meeting = [r for r in out["layouts"] if r.get("meets_slo")]
    best = out["cheapest_meeting_slo"]
    assert best is not None and best["usd_per_hour"] == min(r["usd_per_hour"] for r in meeting)
    front = out["pareto_front"]
    keys = ("usd_per_hour", "ttft_p99_s", "tpot_p99_s")
    for a in front:
        for b in out["layouts"]:
            if b["feasible"]:
                assert not (all(b[k] <= a[k] for k in keys) and any(b[k] < a[k] for k in keys))
    assert min(r["usd_per_hour"] for r in front) == best["usd_per_hour"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--prefill", "h100", "--decode", "h100-sxm:1"], ["--prefill", "CHIP:COUNT"]),
        (["--prefill", "h100-sxm:1", "--decode", "nochip:1"], ["--decode", "nochip"]),
        (["--prefill", "h100-sxm:6:tp=4", "--decode", "h100-sxm:1"], ["--prefill", "divide"]),
        (["--prefill", "h100-sxm:2:pp=2", "--decode", "h100-sxm:1"], ["--prefill", "pp=2"]),
        (["--prefill", "h100-sxm:0", "--decode", "h100-sxm:1"], ["--prefill", "COUNT"]),
        (["--decode", "h100-sxm:1"], ["--prefill", "both pools"]),
    ],
)
def test_bad_pool_specs_are_one_line_errors(args: list[str], fragments: list[str]) -> None:
    result = run_tigris("serve", "llama3-8b", "--disaggregate", *args, "--json")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2
    for fragment in fragments:
        assert fragment in result.stderr


def test_pool_options_need_disaggregate() -> None:
    result = run_tigris("serve", "llama3-8b", "--prefill", "h100-sxm:1", "--json")
    assert result.returncode == 2 and "--prefill" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_json_has_stable_pool_and_transfer_keys() -> None:
    result = run_tigris(
        "serve", "llama3-8b", "--disaggregate", "--prefill", "h100-sxm:1",
        "--decode", "a100-sxm-80gb:2:tp=2", "--scenario", "server", "--rate", "5",
        "--num-requests", "60", "--slo-ttft", "1", "--slo-tpot", "0.05", "--json", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["pools"]) == {"prefill", "decode"}
    assert data["pools"]["decode"]["chip"] == "a100-sxm-80gb"
    assert data["pools"]["decode"]["tp"] == 2
    for key in ("utilization", "memory_per_chip", "pool_power_node_wall_w", "num_replicas"):
        assert key in data["pools"]["prefill"] and key in data["pools"]["decode"]
    for key in ("link", "bandwidth_bytes_per_s", "time_p99_s", "queue_wait_mean_s"):
        assert key in data["kv_transfer"]
    assert data["goodput_requests_per_s"] > 0 and "ttft_p99_s" in data


def test_replace_keeps_pool_settings() -> None:
    # the layout search derives pools with dataclasses.replace: engine settings carry over
    p, _ = pools(1, 1)
    assert replace(p, num_chips=2, tp=2).token_budget == p.token_budget


def _stacked_run(*pools_and_stack: str) -> dict:
    result = run_tigris(
        "serve", "llama3-8b", "--disaggregate", *pools_and_stack, "--scenario", "server",
        "--rate", "5", "--num-requests", "40", "--json", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def test_stack_applies_to_each_pool() -> None:
    # vLLM V0's fitted host time per step and per sequence (catalog/stacks/vllm-v0.yaml)
    # slows both pools under --stack, and only the named pool under its spec's stack=
    plain = _stacked_run("--prefill", "h100-sxm:1", "--decode", "h100-sxm:1")
    both = _stacked_run("--prefill", "h100-sxm:1", "--decode", "h100-sxm:1", "--stack", "vllm-v0")
    decode_only = _stacked_run(
        "--prefill", "h100-sxm:1", "--decode", "h100-sxm:1:stack=vllm-v0"
    )  # fmt: skip
    assert "stack" not in plain["pools"]["prefill"]
    assert both["pools"]["prefill"]["stack"] == both["pools"]["decode"]["stack"] == "vllm-v0"
    assert decode_only["pools"]["decode"]["stack"] == "vllm-v0"
    assert "stack" not in decode_only["pools"]["prefill"]
    for pool in ("prefill", "decode"):
        assert both["pools"][pool]["busy_s"] > plain["pools"][pool]["busy_s"]
    assert decode_only["pools"]["prefill"]["busy_s"] == plain["pools"]["prefill"]["busy_s"]
    assert decode_only["pools"]["decode"]["busy_s"] == both["pools"]["decode"]["busy_s"]
    assert both["tpot_p50_s"] > plain["tpot_p50_s"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--prefill", "h100-sxm:1:stack=nostack", "--decode", "h100-sxm:1"], "nostack"),
        (["--prefill", "h100-sxm:1", "--decode", "h100-sxm:1:stack=megatron"], "training"),
        (["--prefill", "h100-sxm:1:stack=vllm,stack=sglang", "--decode", "h100-sxm:1"], "repeated"),
    ],
)
def test_bad_pool_stacks_are_one_line_errors(args: list[str], fragment: str) -> None:
    result = run_tigris("serve", "llama3-8b", "--disaggregate", *args, "--json")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2
    assert fragment in result.stderr and (
        "--prefill" in result.stderr or "--decode" in result.stderr
    )
