"""Software stack profiles (tigris.hardware.stacks): the catalog, the identity defaults,
what a stack changes, and `--stack` on the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.hardware.presets import list_chip_ids, load_chip
from tigris.hardware.stacks import (
    ANY_SOURCE,
    apply_stack,
    default_stack_id,
    load_stack,
    stack_names,
)
from tigris.workload.moe import EXPERT_GEMM_PATHS
from tigris.workload.ops import ATTENTION_IMPLEMENTATIONS

INFER = ["infer", "llama3-8b", "--chip", "h100-sxm", "--batch", "4", "--input-len", "256",
         "--output-len", "32", "--json"]  # fmt: skip


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", stack_names())
def test_every_catalog_value_is_sourced_or_fitted(name: str) -> None:
    profile = load_stack(name)
    assert profile.attention is None or profile.attention in ATTENTION_IMPLEMENTATIONS
    assert profile.moe_expert_gemm is None or profile.moe_expert_gemm in EXPERT_GEMM_PATHS
    if name != "native":
        assert profile.sources, f"{name} cites no source"
    for key, record in profile.fitted.items():
        assert record["fitter"] and record["rows"] and "prior" in record, key
        assert getattr(profile, key) == record["value"]


def test_the_default_stack_of_every_chip_changes_nothing() -> None:
    for chip_id in list_chip_ids():
        chip = load_chip(chip_id)
        profile = load_stack(default_stack_id(chip))
        assert profile.is_identity, (chip_id, profile.id)
        assert profile.apply_to_chip(chip) is chip


def test_vendor_defaults() -> None:
    assert default_stack_id(load_chip("h100-sxm")) == "trtllm"
    assert default_stack_id(load_chip("mi300x")) == "vllm-rocm"
    assert default_stack_id(load_chip("tpu-v5p")) == "jax-xla"
    assert default_stack_id(load_chip("tigris-1")) == "native"


def test_gemm_efficiency_scales_the_matrix_fraction() -> None:
    chip = load_chip("h100-sxm")
    slower = load_stack("vllm").with_values(gemm_efficiency=0.5).apply_to_chip(chip)
    assert slower.calibration.matrix_fraction == pytest.approx(
        0.5 * chip.calibration.matrix_fraction
    )
    assert slower.calibration.dram_fraction == chip.calibration.dram_fraction


def test_step_overhead_is_added_once_per_forward_pass() -> None:
    from tigris.serving.deployment import build_deployment
    from tigris.serving.step_time import StepTimer

    plain = build_deployment("llama3-8b", "h100-sxm")
    stack = load_stack("vllm").with_values(step_overhead_s=2e-3)
    _, settings = apply_stack("vllm", plain.chip, "serving")
    slow = build_deployment("llama3-8b", "h100-sxm", **(settings | {"stack": stack}))
    for tokens in (1, 37, 300, 5000):
        base = StepTimer(plain).tokenwise_s(tokens)
        assert StepTimer(slow).tokenwise_s(tokens) == pytest.approx(base + 2e-3, rel=1e-12)
    assert StepTimer(slow).decode_step_s(8, 100) - StepTimer(plain).decode_step_s(
        8, 100
    ) == pytest.approx(2e-3)


def test_fits_revert_to_their_priors_when_their_source_is_left_out() -> None:
    record = {"value": 4e-3, "prior": 0.0, "source": "S", "fitter": "f", "rows": ["r"]}
    base = load_stack("vllm-rocm")
    fitted = base.with_values(step_overhead_s=4e-3)
    object.__setattr__(fitted, "fitted", {"step_overhead_s": record})
    assert fitted.without_fits_from("S").step_overhead_s == 0.0
    assert fitted.without_fits_from(ANY_SOURCE).step_overhead_s == 0.0
    assert fitted.without_fits_from("other").step_overhead_s == 4e-3


def test_named_default_stack_reproduces_the_default_output() -> None:
    plain = run_tigris(*INFER)
    named = run_tigris(*INFER, "--stack", "trtllm")
    assert plain.returncode == named.returncode == 0, named.stderr
    assert json.loads(plain.stdout) == json.loads(named.stdout)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--stack", "no-such-stack"], "unknown stack"),
        (["--stack", "megatron"], "is a training stack"),
        (["--stack", "../chips/h100-sxm"], "unknown stack"),
    ],
)
def test_a_bad_stack_names_the_option(args: list[str], fragment: str) -> None:
    result = run_tigris(*INFER, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--stack" in result.stderr and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3
    assert result.stdout == ""


def test_train_refuses_a_serving_stack() -> None:
    result = run_tigris("train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8",
                        "--global-batch", "8", "--seq-len", "1024", "--stack", "vllm")  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--stack" in result.stderr and "serving stack" in result.stderr


def test_a_release_stack_sets_the_expert_gemm_path_for_a_user() -> None:
    """TensorRT-LLM v0.9's 16-bit expert GEMMs reach `tigris infer --stack trtllm-v0.9`
    (not only the validation rows): slower than the chip's native FP8 path on H100."""
    args = ["infer", "mixtral-8x7b", "--chip", "h100-sxm", "--num-chips", "2", "--batch",
            "256", "--weight-dtype", "fp8", "--compute-dtype", "fp8", "--json"]  # fmt: skip
    found = {}
    for stack in ("trtllm", "trtllm-v0.9"):
        done = run_tigris(*args, "--stack", stack)
        assert done.returncode == 0, done.stderr
        found[stack] = json.loads(done.stdout)["throughput_tokens_per_s"]
    assert found["trtllm-v0.9"] < found["trtllm"]
