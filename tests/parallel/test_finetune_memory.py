"""Memory of a LoRA step (issue 16 item 2): frozen base weights in bf16 without
gradients or optimizer state, the adapters with all of them, and the saved inputs of
the frozen projections without an adapter left out."""

from __future__ import annotations

import pytest

from tigris.api.inputs import resolve_model
from tigris.parallel.memory import memory_per_chip, params_per_chip
from tigris.parallel.plan import ParallelPlan
from tigris.workload.finetune import FineTune, with_finetune
from tigris.workload.tasks import train_step_graph

CAPACITY = 80e9


def plan(**fields: object) -> ParallelPlan:
    base = {"tp": 4, "pp": 1, "dp": 2, "cp": 1, "micro_batch": 1, "recompute": "none"}
    return ParallelPlan(**(base | fields))


def test_lora_memory_is_frozen_weights_plus_adapter_state() -> None:
    spec = resolve_model("llama2-70b")
    tuned = with_finetune(spec, FineTune(mode="lora", lora_rank=16, lora_targets=("qkv", "o")))
    layout = plan(sequence_parallel=True)
    full = memory_per_chip(spec, layout, 8192, 4, CAPACITY)
    lora = memory_per_chip(tuned, layout, 8192, 4, CAPACITY)
    assert lora.total_bytes < full.total_bytes
    adapters = 80 * 16 * ((8192 + 8192 + 2 * 1024) + (8192 + 8192)) / 4  # per tp rank
    assert params_per_chip(tuned, layout)[0] == pytest.approx(adapters)
    assert lora.gradients_bytes == pytest.approx(4 * adapters)  # fp32 main grads
    assert lora.optimizer_bytes == pytest.approx(12 * adapters)  # master + 2 moments
    assert lora.weights_bytes == pytest.approx(full.weights_bytes + 2 * adapters)
    assert lora.activations_bytes < full.activations_bytes


def test_adapting_every_projection_keeps_every_input() -> None:
    spec = resolve_model("llama2-7b")
    targets = ("q", "k", "v", "o", "gate", "up", "down")
    tuned = with_finetune(spec, FineTune(mode="lora", lora_targets=targets))
    layout = plan(tp=2, dp=1)
    full = memory_per_chip(spec, layout, 4096, 1, CAPACITY)
    lora = memory_per_chip(tuned, layout, 4096, 1, CAPACITY)
    assert lora.activations_bytes == pytest.approx(full.activations_bytes)
    recomputed = plan(tp=2, dp=1, recompute="full")
    assert memory_per_chip(tuned, recomputed, 4096, 1, CAPACITY).activations_bytes == (
        pytest.approx(memory_per_chip(spec, recomputed, 4096, 1, CAPACITY).activations_bytes)
    )


def test_layer_params_is_the_spec_public_count() -> None:
    """tasks.layer_params reads spec.layer_params_of: the optimizer of full training
    updates every stored parameter."""
    for name in ("llama2-70b", "mixtral-8x7b"):
        spec = resolve_model(name)
        graph = train_step_graph(spec, 1, 128)
        optimizer = [g for g in graph.groups if g.phase == "optimizer"]
        elements = sum(g.count * op.num_elements for g in optimizer for op in g.ops)
        assert elements == spec.param_count().total
