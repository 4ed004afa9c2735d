"""Serving: static-batch inference, memory, the simulator and its scenarios."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tigris.errors import InfeasibleError, SpecError
from tigris.serving import build_deployment, infer, plan_memory, read_trace, synthetic_workload
from tigris.serving.metrics import summarize
from tigris.serving.scenario import run_offline, run_server
from tigris.serving.simulator import simulate
from tigris.serving.step_time import StepTimer


@pytest.fixture(scope="module")
def small():
    deployment = build_deployment("llama3-8b", "h100-sxm")
    return deployment, StepTimer(deployment)


def test_infer_reports_the_public_keys(small):
    deployment, timer = small
    result = infer(deployment, 8, 512, 64, timer).to_dict()
    for key in ("ttft_s", "tpot_s", "e2e_latency_s", "throughput_tokens_per_s"):
        assert result[key] > 0
    assert result["fits"] and result["max_batch"] >= 8
    assert result["e2e_latency_s"] == pytest.approx(result["ttft_s"] + 63 * result["tpot_s"])
    assert result["memory_per_chip_bytes"] < deployment.chip.dram_capacity_bytes


def test_throughput_rises_then_saturates_with_batch(small):
    deployment, timer = small
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    rates = [infer(deployment, b, 256, 256, timer).throughput_tokens_per_s for b in batches]
    assert all(later >= 0.97 * earlier for earlier, later in zip(rates, rates[1:], strict=False))
    assert rates[3] > 6 * rates[0]  # memory-bound decode: batching is nearly free
    assert rates[-1] < 1.5 * rates[-2]  # compute-bound: doubling the batch gains little


@settings(max_examples=15, deadline=None)
@given(kv=st.integers(min_value=64, max_value=30000), batch=st.integers(1, 64))
def test_tpot_grows_with_kv_length(small, kv, batch):
    _, timer = small
    assert timer.decode_step_s(batch, kv + 512) >= timer.decode_step_s(batch, kv)


@settings(max_examples=20, deadline=None)
@given(seq=st.integers(16, 8192), kv_dtype=st.sampled_from(["fp8", "int8"]))
def test_larger_kv_dtype_never_fits_more(seq, kv_dtype):
    narrow = plan_memory(build_deployment("llama3-8b", "h100-sxm", kv_dtype=kv_dtype))
    wide = plan_memory(build_deployment("llama3-8b", "h100-sxm", kv_dtype="bf16"))
    assert wide.max_batch(seq) <= narrow.max_batch(seq)


def test_one_request_at_a_time_matches_infer(small):
    deployment, timer = small
    workload = synthetic_workload(4, 700, 90, rate_per_s=0.05, seed=3)
    result = simulate(deployment, workload, timer=timer)
    single = infer(deployment, 1, 700, 90, timer)
    ttft = result.first_token_s - workload.arrival_s
    tpot = (result.finish_s - result.first_token_s) / 89
    assert np.allclose(ttft, single.ttft_s, rtol=1e-9)
    assert np.allclose(tpot, single.tpot_s, rtol=1e-9)


def test_sliding_window_and_int4_dequant_cost():
    timer = StepTimer(build_deployment("llama3-8b", "h100-sxm", weight_dtype="int4"))
    bf16 = StepTimer(build_deployment("llama3-8b", "h100-sxm"))
    # one token: int4 reads a quarter of the weights
    assert timer.decode_step_s(1, 512) < 0.6 * bf16.decode_step_s(1, 512)
    # many tokens: dequantisation makes int4 slower than bf16 (Marlin-style kernels)
    assert timer.tokenwise_s(8192) > bf16.tokenwise_s(8192)


def test_simulation_is_deterministic_and_conserves_requests(small):
    deployment, timer = small
    workload = synthetic_workload(300, 400, 100, rate_per_s=30, seed=7, length_dist="uniform")
    first = summarize(simulate(deployment, workload, timer=timer))
    again = summarize(simulate(deployment, workload, timer=timer))
    assert first == again
    result = simulate(deployment, workload, timer=timer)
    assert np.all(result.finish_s >= result.first_token_s)
    assert np.all(result.first_token_s > workload.arrival_s)


def test_preemption_when_kv_is_full():
    deployment = build_deployment("llama3-8b", "h100-sxm", memory_utilization=0.3)
    workload = synthetic_workload(400, 2000, 1500, rate_per_s=None, seed=1)
    plan = plan_memory(deployment)
    result = simulate(deployment, workload)
    assert result.num_preemptions > 0
    assert result.kv_max_occupancy <= 1.0
    assert np.isfinite(result.finish_s).all()
    assert plan.fits


def test_chunked_prefill_keeps_tpot_low_under_long_prompts(small):
    deployment, timer = small
    workload = synthetic_workload(200, 6000, 200, rate_per_s=4, seed=2)
    off = summarize(simulate(deployment, workload, timer=timer))
    on = summarize(simulate(deployment, workload, chunked_prefill=True, timer=timer))
    assert on["tpot_p99_s"] < off["tpot_p99_s"]


def test_replicas_scale_offline_throughput():
    one = build_deployment("llama3-8b", "h100-sxm", num_chips=1)
    two = build_deployment("llama3-8b", "h100-sxm", num_chips=2, tp=1)
    workload = synthetic_workload(400, 256, 128, rate_per_s=None, seed=0)
    a = run_offline(one, workload)["throughput_tokens_per_s"]
    b = run_offline(two, workload)["throughput_tokens_per_s"]
    assert 1.6 * a < b < 2.2 * a


def test_server_scenario_finds_a_rate_meeting_slos(small):
    deployment, timer = small
    workload = synthetic_workload(300, 512, 128, rate_per_s=None, seed=0)
    result = run_server(deployment, workload, slo_ttft_s=0.5, slo_tpot_s=0.05, timer=timer)
    assert result["max_rate_meeting_slo"] > 0
    assert result["ttft_p99_s"] <= 0.5 and result["tpot_p99_s"] <= 0.05
    assert result["max_rate_meeting_slo"] <= result["requests_per_s"] * 1.5


def test_tensor_parallel_and_moe():
    dense = infer(build_deployment("llama3-70b", "h100-sxm", num_chips=8), 16, 512, 64)
    assert dense.fits and dense.tpot_s > 0
    moe = infer(build_deployment("mixtral-8x7b", "h100-sxm", num_chips=2, tp=1, ep=2), 16, 512, 64)
    assert moe.fits and moe.num_replicas == 1
    with pytest.raises(InfeasibleError):
        build_deployment("llama3-8b", "h100-sxm", num_chips=3)


# ---------------------------------------------------------------------------- traces


def test_trace_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("arrival_s,input_len,output_len\n0.5,100,10\n0.1,50,5\n")
    workload = read_trace(csv_file)
    assert list(workload.arrival_s) == [0.1, 0.5] and list(workload.input_len) == [50, 100]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"arrival_s": 0, "input_len": 10, "output_len": 3}\n')
    assert read_trace(jsonl).num_requests == 1


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("bad.jsonl", '{"arrival_s": 0, "input_len": 10, "output_len": 3}\n{oops\n', "line 2"),
        ("neg.csv", "arrival_s,input_len,output_len\n0,10,3\n1,-4,3\n", "line 3: input_len"),
        ("short.csv", "arrival_s,input_len,output_len\n0,10\n", "line 2: malformed"),
        ("nan.csv", "arrival_s,input_len,output_len\n0,ten,3\n", "input_len is not a number"),
        ("miss.jsonl", '{"arrival_s": 0, "input_len": 10}\n', "output_len"),
    ],
)
def test_bad_trace_names_the_line_or_field(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError, match=needle):
        read_trace(path)


# ---------------------------------------------------------------------------- CLI


def _app():
    import typer

    from tigris.cli import serve, train

    app = typer.Typer()
    validate_app = typer.Typer()
    app.add_typer(validate_app, name="validate")
    train.register(app, validate_app)  # infer
    serve.register(app, validate_app)
    return app


def test_cli_infer_and_serve_json():
    runner = CliRunner()
    app = _app()
    out = runner.invoke(
        app,
        ["infer", "llama3-8b", "--chip", "h100-sxm", "--batch", "4", "--input-len", "128",
         "--output-len", "16", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {"ttft_s", "tpot_s", "e2e_latency_s", "throughput_tokens_per_s",
            "memory_per_chip_bytes", "max_batch", "fits"} <= data.keys()  # fmt: skip
    out = runner.invoke(
        app,
        ["serve", "llama3-8b", "--chip", "h100-sxm", "--scenario", "offline",
         "--num-requests", "50", "--input-len", "128", "--output-len", "16", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    for key in ("throughput_tokens_per_s", "requests_per_s", "ttft_p50_s", "ttft_p99_s",
                "tpot_p50_s", "tpot_p99_s"):  # fmt: skip
        assert data[key] > 0


def test_cli_errors_are_spec_errors(tmp_path):
    runner = CliRunner()
    app = _app()
    out = runner.invoke(app, ["infer", "no-such-model", "--json"])
    assert isinstance(out.exception, SpecError)
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,input_len,output_len\n0,-1,3\n")
    out = runner.invoke(app, ["serve", "llama3-8b", "--trace", str(bad), "--json"])
    assert isinstance(out.exception, SpecError) and "line 2" in str(out.exception)


def test_custom_all_reduce_speeds_up_tp8_decode():
    from tigris.serving import build_deployment, infer

    nccl = infer(build_deployment("llama3-70b", "h100-sxm", num_chips=8), 8, 512, 64)
    custom = infer(
        build_deployment("llama3-70b", "h100-sxm", num_chips=8, all_reduce="custom"), 8, 512, 64
    )
    # 160 all-reduces per decode step at ~47 us (NCCL) against ~6 us (one-shot)
    assert nccl.tpot_s - custom.tpot_s > 5e-3
    assert custom.ttft_s <= nccl.ttft_s


def test_fp8_compute_keeps_bf16_activations_between_gemms():
    """TensorRT-LLM and vLLM fp8: only GEMM inputs are fp8; norms, residuals, attention's
    Q/O, the tp all-reduces and the LM head stay in bf16."""
    from tigris.serving.memory import weights_bytes_per_chip
    from tigris.workload.ops import Attention, Gemm, Stream

    fp8 = build_deployment(
        "llama3-8b", "h100-sxm", num_chips=2, tp=2, compute_dtype="fp8", weight_dtype="fp8"
    )
    bf16_w8 = build_deployment("llama3-8b", "h100-sxm", num_chips=2, tp=2, weight_dtype="fp8")
    assert fp8.activation_dtype == "bf16" and bf16_w8.activation_dtype == "bf16"
    timer = StepTimer(fp8)
    groups = {g.name: g for g in timer._graph(4).groups}
    for op in groups["layer"].ops:
        if isinstance(op, Gemm):
            assert (op.dtype, op.out_dtype, op.weight_dtype) == ("fp8", "bf16", "fp8")
        elif isinstance(op, Attention):
            assert op.dtype == "bf16"
        elif isinstance(op, Stream) and op.name.endswith(("norm", "residual")):
            assert op.bytes_written == 2 * op.num_elements
    (head,) = [op for op in groups["head"].ops if isinstance(op, Gemm)]
    assert (head.dtype, head.weight_dtype) == ("bf16", "bf16")
    # the all-reduces carry bf16 hidden states, as with bf16 compute
    assert timer._comm_s(256) == pytest.approx(StepTimer(bf16_w8)._comm_s(256))
    # fp8 GEMMs are faster than bf16 ones on the same fp8 weights; memory is the same
    assert timer.tokenwise_s(4096) < StepTimer(bf16_w8).tokenwise_s(4096)
    assert weights_bytes_per_chip(fp8) == pytest.approx(weights_bytes_per_chip(bf16_w8))
