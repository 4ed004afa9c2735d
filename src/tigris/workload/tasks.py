"""Op graphs of the three tasks: a training step, a prefill, and one decode step.

Closed forms the graphs satisfy exactly (tests/workload/test_graph.py), with N the active
matmul weights (`TransformerSpec.num_matmul_params`, LM head included), T tokens:
- training, GEMMs: 6 N T (forward 2NT; backward dgrad 2NT + wgrad 2NT), plus one more
  forward of the layers (2 (N - V h) T) under full recomputation;
- training, attention: forward 4 l a d pairs per sequence, backward 2.5x that
  (FlashAttention-2 recomputes QK^T; Dao 2023);
- prefill, GEMMs: 2 (N - V h) T + 2 V h b (logits of each prompt's last token only);
- decode step: 2 N b + 4 l a d b kv_len (l layers, a heads of width d).
"""

from __future__ import annotations

from typing import Literal

from tigris.errors import SpecError
from tigris.hardware.quantities import dtype_bytes
from tigris.workload.finetune import (
    finetune_of,
    frozen,
    frozen_embedding,
    lora_of,
    lora_steps,
    packed_kind,
    trainable_layer_params,
)
from tigris.workload.graph import OpGraph, OpGroup, Phase, make_graph, make_group
from tigris.workload.layers import (
    Shape,
    Step,
    backward_ops,
    embedding_steps,
    forward_ops,
    head_steps,
    layer_steps,
)
from tigris.workload.ops import Op, Stream, make_stream
from tigris.workload.precision import Precision
from tigris.workload.spec import LayerKind, TransformerSpec

ADAMW_FLOP_PER_PARAM = 16.0
"""AdamW as in Loshchilov & Hutter 2019 (Alg. 2): moments 3 + 4, bias corrections 2,
sqrt, eps, divide, learning rate 1 each, decoupled weight decay 2, update 1."""

Recompute = Literal["none", "full"]


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if value <= 0:
            raise SpecError(f"must be a positive integer, got {value!r}", key_path=key)


def _optimizer_op(name: str, num_params: int, precision: Precision) -> Stream:
    """AdamW step on fp32 master weights: reads grad, master, m, v; writes master, m, v and
    the compute-dtype weight copy the next step's GEMMs read."""
    master = dtype_bytes(precision.master_dtype)
    state = dtype_bytes(precision.optimizer_state_dtype)
    read = dtype_bytes(precision.grad_dtype) + master + 2 * state
    written = master + 2 * state + dtype_bytes(precision.weights)
    return make_stream(
        name,
        num_params,
        bytes_read=num_params * read,
        bytes_written=num_params * written,
        flop_per_element=ADAMW_FLOP_PER_PARAM,
    )


def layer_params(spec: TransformerSpec, kind: LayerKind) -> int:
    """Stored parameters of one layer of `kind`: its attention, norms and the kind's MLP
    (the MoE block of the spec's experts, or a dense MLP of ffn_hidden_size)."""
    return spec.layer_params_of(kind)


def _optimizer_groups(spec: TransformerSpec, precision: Precision) -> list[OpGroup]:
    """AdamW of each layer kind's trainable weights (count = its layers) and of the rest:
    every weight, or under LoRA the adapters only (none outside the layers)."""
    kinds = spec.layer_kinds()
    adapters = [trainable_layer_params(spec, kind) for kind, _ in kinds]
    if adapters[0] is not None:
        groups = [
            make_group(
                "layer", "optimizer", count, (_optimizer_op("adamw", size, precision),), kind
            )
            for (kind, count), size in zip(kinds, adapters, strict=True)
            if size
        ]
        return [*groups, make_group("model", "optimizer", 1, ())]
    sizes = [layer_params(spec, kind) for kind, _ in kinds]
    outside_layers = spec.param_count().total - sum(
        count * size for (_, count), size in zip(kinds, sizes, strict=True)
    )
    groups = [
        make_group("layer", "optimizer", count, (_optimizer_op("adamw", size, precision),), kind)
        for (kind, count), size in zip(kinds, sizes, strict=True)
    ]
    model = _optimizer_op("adamw", outside_layers, precision)
    return [*groups, make_group("model", "optimizer", 1, (model,))]


def _layer_groups(
    phase: Phase, steps: list[tuple[LayerKind, int, tuple[Op, ...]]]
) -> list[OpGroup]:
    """One "layer" group of `phase` per kind, from (kind, count, ops) triples."""
    return [make_group("layer", phase, count, ops, kind) for kind, count, ops in steps]


def train_step_graph(
    spec: TransformerSpec,
    batch: int,
    seq_len: int,
    precision: Precision | None = None,
    *,
    recompute: Recompute = "none",
    loss: str = "fused",
) -> OpGraph:
    """One training step on `batch` sequences of `seq_len` tokens: forward, loss, backward
    (reverse order), AdamW update. `recompute='full'` re-runs every layer's forward during
    backward (Megatron-LM full activation recomputation; Narayanan et al. 2021). `loss`:
    how the cross-entropy kernel runs ('fused' or eager 'fp32'; see `head_steps`)."""
    _check_positive(batch=batch, seq_len=seq_len)
    precision = precision or Precision()
    shape = Shape(spec, precision, batch, seq_len, seq_len, kv_cache=False)
    embedding = embedding_steps(shape)
    head = head_steps(shape, shape.tokens, loss=True, loss_impl=loss)
    if finetune_of(spec) is None:
        layers = [(kind, count, layer_steps(shape, kind)) for kind, count in spec.layer_kinds()]
    else:
        embedding, head, layers = _finetune_steps(shape, embedding, head)
    forward = [(kind, count, forward_ops(steps)) for kind, count, steps in layers]
    backward = [(kind, count, backward_ops(steps)) for kind, count, steps in layers]
    groups = [
        make_group("embedding", "fwd", 1, forward_ops(embedding)),
        *_layer_groups("fwd", forward),
        make_group("head", "fwd", 1, forward_ops(head)),
        make_group("head", "bwd", 1, backward_ops(head)),
    ]
    if recompute == "full":  # the very forward tuples: sharding splits them once
        groups += _layer_groups("recompute", forward)
    groups += [
        *_layer_groups("bwd", backward),
        make_group("embedding", "bwd", 1, backward_ops(embedding)),
        *_optimizer_groups(spec, precision),
    ]
    return make_graph(spec.name, "train", batch, seq_len, shape.tokens, tuple(groups))


def _finetune_steps(
    shape: Shape, embedding: list[Step], head: list[Step]
) -> tuple[list[Step], list[Step], list[tuple[LayerKind, int, list[Step]]]]:
    """The embedding, head and (kind, count, steps) of each layer kind of a fine-tuning
    step (`tigris.workload.finetune`): SFT's layers attend within their packed documents;
    LoRA freezes every weight and adds the adapters beside its target projections."""
    spec = shape.spec
    finetune = finetune_of(spec)
    layers = [
        (kind, count, layer_steps(shape, packed_kind(kind, finetune, shape.q_len)))
        for kind, count in spec.layer_kinds()
    ]
    lora = lora_of(spec)
    if lora is None:
        return embedding, head, layers
    layers = [(kind, count, lora_steps(shape, steps, lora)) for kind, count, steps in layers]
    return frozen_embedding(embedding), [frozen(step) for step in head], layers


def _inference_graph(
    spec: TransformerSpec, shape: Shape, task: Literal["prefill", "decode"], logit_rows: int
) -> OpGraph:
    layers = [
        (kind, count, forward_ops(layer_steps(shape, kind))) for kind, count in spec.layer_kinds()
    ]
    groups = (
        make_group("embedding", "fwd", 1, forward_ops(embedding_steps(shape))),
        *_layer_groups("fwd", layers),
        make_group("head", "fwd", 1, forward_ops(head_steps(shape, logit_rows, loss=False))),
    )
    seq_len = shape.kv_len
    return make_graph(spec.name, task, shape.batch, seq_len, shape.tokens, groups)


def prefill_graph(
    spec: TransformerSpec,
    batch: int,
    prompt_len: int,
    precision: Precision | None = None,
    *,
    past_len: int = 0,
    all_logits: bool = False,
) -> OpGraph:
    """Prefill of `batch` prompts of `prompt_len` new tokens: the layers over every token,
    K and V written to the cache, logits for each prompt's last token (all tokens if
    `all_logits`). `past_len` tokens already in the cache (a prefix cache hit, or an
    earlier chunk of chunked prefill) are attended to but not recomputed."""
    _check_positive(batch=batch, prompt_len=prompt_len)
    if past_len < 0:
        raise SpecError(f"must not be negative, got {past_len!r}", key_path="past_len")
    kv_len = past_len + prompt_len
    shape = Shape(
        spec, precision or Precision(), batch, prompt_len, kv_len, kv_cache=True, backward=False
    )
    logit_rows = shape.tokens if all_logits else batch
    return _inference_graph(spec, shape, "prefill", logit_rows)


def decode_graph(
    spec: TransformerSpec, batch: int, kv_len: int, precision: Precision | None = None
) -> OpGraph:
    """One decode step of `batch` sequences: one new token each (q_len = 1), attending to
    `kv_len` keys, its own included (so kv_len - 1 were cached before this step)."""
    _check_positive(batch=batch, kv_len=kv_len)
    shape = Shape(spec, precision or Precision(), batch, 1, kv_len, kv_cache=True, backward=False)
    return _inference_graph(spec, shape, "decode", batch)
