"""Which stack each inference row ran, the development subset, and the one-constant fit
(tigris.validate.stack_fit)."""

from __future__ import annotations

from math import log

import pytest

from tigris.hardware.stacks import load_stack
from tigris.validate import stack_fit
from tigris.validate.infer import CATEGORIES, source_family
from tigris.validate.measured import read_rows


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read_rows(CATEGORIES)


def _row(rows: list[dict[str, str]], fragment: str) -> dict[str, str]:
    return next(r for r in rows if fragment in r["id"])


def test_each_row_states_its_stack(rows: list[dict[str, str]]) -> None:
    stacks = {stack_fit.row_stack(r) for r in rows}
    assert stacks <= {"trtllm", "trtllm-v0.6", "vllm-rocm-v0", "pytorch-eager"}
    assert stack_fit.row_stack(_row(rows, "AMD_1xMI300X")) == "vllm-rocm-v0"
    assert stack_fit.row_stack(_row(rows, "Dell_XE9680_MI300X")) == "vllm-rocm-v0"
    assert stack_fit.row_stack(_row(rows, "NVIDIA_DGX-H100")) == "trtllm"
    trt = next(r for r in rows if r["source"].startswith("NVIDIA/TensorRT-LLM"))
    assert stack_fit.row_stack(trt) == "trtllm-v0.6"  # the v0.6.1 tables: masked MHA decode
    v09 = trt | {"source": "NVIDIA/TensorRT-LLM docs/source/performance.md (version 0.9.0)"}
    assert stack_fit.row_stack(v09) == "trtllm-v0.9"
    llmcompass = next(r for r in rows if "LLMCompass" in r["source"])
    assert stack_fit.row_stack(llmcompass) == "pytorch-eager"
    assert stack_fit.row_profile(llmcompass) is None


def test_vllm_versions_map_to_their_engine() -> None:
    note = "submitter=X; framework={}; samples/s=1"
    row = {"source": "MLPerf Inference v5.0", "hardware": "AMD MI300X", "notes": ""}
    for framework, stack in [
        ("vLLM 0.4.3+rocm614, ROCm 6.1", "vllm-rocm-v0"),
        ("vLLM 0.8.1+rocm, ROCm 6.3", "vllm-rocm"),
        ("vLLM 0.9.0, CUDA 12.8", "vllm"),
        ("TensorRT 10.2.0, CUDA 12.4", "trtllm"),
    ]:
        assert stack_fit.row_stack(row | {"notes": note.format(framework)}) == stack


def test_the_development_rows_are_the_developers_own(rows: list[dict[str, str]]) -> None:
    dev = stack_fit.development_rows("vllm-rocm-v0", rows)
    assert len(dev) == 6
    assert all("_AMD_" in r["id"] for r in dev)
    assert not any("Dell" in r["id"] for r in dev)
    assert stack_fit.development_rows("trtllm", rows) == []


def test_fit_rows_are_recorded_and_left_out_with_their_source(
    rows: list[dict[str, str]],
) -> None:
    profile = load_stack("vllm-rocm-v0")
    record = profile.fitted.get("step_overhead_s")
    if record is None:
        pytest.skip("vllm-rocm-v0 carries no fit")
    amd, dell = _row(rows, "AMD_1xMI300X"), _row(rows, "Dell_XE9680_MI300X")
    assert stack_fit.is_fit_row(amd) and not stack_fit.is_fit_row(dell)
    family = source_family(amd)
    assert record["source"] == family
    assert stack_fit.fitted_on_source(amd, family)
    assert stack_fit.fitted_on_source(dell, family)  # the constant came from that source
    assert stack_fit.row_profile(dell, family) is None  # held out: back to the prior
    assert not stack_fit.fitted_on_source(_row(rows, "NVIDIA_DGX-H100"), family)


def test_the_secant_fit_removes_the_mean_bias(
    rows: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a model whose predictions fall as 1 / (1 + h / 10 ms) from +20 %: zero bias at
    # h = 2 ms
    def bias(dev, profile) -> float:  # noqa: ANN001
        return log(1.2 / (1.0 + profile.step_overhead_s / 0.01))

    monkeypatch.setattr(stack_fit, "_bias", bias)
    record = stack_fit.fit_step_overhead("vllm-rocm-v0", rows)
    assert record.value == pytest.approx(2e-3, rel=1e-3)
    assert (
        record.prior == 0.0
        or record.prior == load_stack("vllm-rocm-v0").fitted["step_overhead_s"]["prior"]
    )
    assert len(record.rows) == 6 and abs(record.mean_log_ratio_after) < 1e-3
    assert record.to_yaml()["fitter"].endswith("fit_step_overhead")


def test_a_stack_without_development_rows_is_refused(rows: list[dict[str, str]]) -> None:
    with pytest.raises(ValueError, match="no development rows"):
        stack_fit.fit_step_overhead("trtllm", rows)
