"""ZeRO-3 model state as the frameworks keep it (tigris.parallel.memory docstring)."""

from __future__ import annotations

import pytest

from tigris.parallel.memory import memory_per_chip, params_per_chip
from tigris.parallel.plan import ParallelPlan
from tigris.validate.train import maxtext_spec


def test_zero3_keeps_16_bytes_per_parameter_over_dp():
    """MaxText 16B on 256 chips, ZeRO-3: fp32 weights + fp32 gradients + two fp32
    moments = 16 bytes per parameter / 256, no separate bf16 shard (FSDP and MaxText keep
    the sharded weights in full precision; DeepSpeed's 2 + 2 + 12 is the same 16)."""
    spec = maxtext_spec(16)
    plan = ParallelPlan(tp=1, pp=1, dp=256, zero=3, micro_batch=1, recompute="full")
    params, _ = params_per_chip(spec, plan)
    memory = memory_per_chip(spec, plan, 2048, 1, 16e9)
    state = memory.weights_bytes + memory.gradients_bytes + memory.optimizer_bytes
    assert state == pytest.approx(16 * params / 256)
    assert memory.weights_bytes == pytest.approx(4 * params / 256)
    # ZeRO-2 keeps the bf16 weights whole and the 16 bytes of the rest sharded
    plan2 = plan.model_copy(update={"zero": 2})
    memory2 = memory_per_chip(spec, plan2, 2048, 1, 16e9)
    assert memory2.weights_bytes == pytest.approx(2 * params)
    assert memory2.optimizer_bytes + memory2.gradients_bytes == pytest.approx(16 * params / 256)
