"""Wide expert parallelism in serving (DP attention + EP experts, SGLang/DeepSeek layout):
the all-to-all crosses nodes, the busiest ep rank sets the MoE layers, and the shared
experts hidden behind the dispatch never make a step slower."""

from __future__ import annotations

import pytest

from tigris.errors import SpecError
from tigris.serving.deployment import build_deployment
from tigris.serving.step_time import StepTimer
from tigris.workload.moe import DEFAULT_MOE_IMBALANCE


def _timer(imbalance: float = DEFAULT_MOE_IMBALANCE) -> StepTimer:
    deployment = build_deployment(
        "deepseek-v3", "h200-sxm", num_chips=32, tp=1, ep=32, weight_dtype="fp8",
        compute_dtype="fp8", moe_imbalance=imbalance,
    )  # fmt: skip
    return StepTimer(deployment)


def test_ep32_all_to_all_spans_four_nodes() -> None:
    timer = _timer()
    assert timer.deployment.moe_imbalance == DEFAULT_MOE_IMBALANCE
    assert timer._groups["ep"].num_domains == 4  # 8 H200 per NVLink domain
    assert timer._comm_s(128) > 0


def test_imbalance_raises_the_step_monotonically() -> None:
    decode = [_timer(f).tokenwise_s(32 * 64) for f in (1.0, 1.25, 1.5, 2.0)]
    prefill = [_timer(f).tokenwise_s(32 * 2048) for f in (1.0, 1.25, 1.5, 2.0)]
    assert decode == sorted(decode) and decode[0] < decode[-1]
    assert prefill == sorted(prefill) and prefill[0] < prefill[-1]


@pytest.mark.parametrize("rank_tokens", [1, 64, 2048])
def test_shared_expert_overlap_never_slows(rank_tokens: int) -> None:
    timer = _timer()
    ops = timer._ops("tokens", rank_tokens)
    assert timer._shared_overlap_s(rank_tokens, ops) >= 0.0


def test_deployment_rejects_imbalance_below_one() -> None:
    with pytest.raises(SpecError, match="moe-imbalance"):
        _timer(0.9)
