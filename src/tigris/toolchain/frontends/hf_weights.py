"""Checkpoint tensors, by their Hugging Face names, mapped onto the tensor names of the
compiler's graphs (`tigris.toolchain.frontends.decoder`, `tigris.toolchain.frontends.bert`): each tensor checked
for presence, shape (what config.json implies) and a floating-point dtype, then laid out
as the graph takes it ([in, out] for matrices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.toolchain.frontends.safetensors_file import read_safetensors
from tigris.workload.spec import TransformerSpec


def read_checkpoint(files: tuple[Path, ...]) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for file in files:
        tensors.update(read_safetensors(file))
    return tensors


def take(
    tensors: dict[str, np.ndarray], name: str, shape: tuple[int, ...], file: str
) -> np.ndarray:
    if name not in tensors:
        raise SpecError(
            f"checkpoint has no tensor {name!r}",
            file=file,
            hint="expected Hugging Face names for this model_type (as transformers saves them)",
        )
    value = tensors[name]
    if tuple(value.shape) != shape:
        raise SpecError(
            f"tensor {name!r} has shape {list(value.shape)}; config.json implies {list(shape)}",
            file=file,
        )
    if not np.issubdtype(value.dtype, np.floating) and value.dtype.name != "bfloat16":
        raise SpecError(f"tensor {name!r} is {value.dtype}, expected floating point", file=file)
    return np.asarray(value, dtype=np.float32)


def name_prefix(tensors: dict[str, np.ndarray], probe: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if prefix + probe in tensors:
            return prefix
    return prefixes[0]


def gpt2_weights(
    spec: TransformerSpec, tensors: dict[str, np.ndarray], file: str
) -> dict[str, np.ndarray]:
    h, f, v = spec.hidden_size, spec.ffn_hidden_size, spec.vocab_size
    p = name_prefix(tensors, "wte.weight", ("transformer.", ""))
    w: dict[str, np.ndarray] = {
        "embed.tokens": take(tensors, f"{p}wte.weight", (v, h), file),
        "embed.positions": take(tensors, f"{p}wpe.weight", (spec.max_position_embeddings, h), file),
        "final_norm.g": take(tensors, f"{p}ln_f.weight", (h,), file),
        "final_norm.b": take(tensors, f"{p}ln_f.bias", (h,), file),
    }
    for i in range(spec.num_layers):
        q, o = f"{p}h.{i}.", f"l{i}."
        # GPT-2's Conv1D weights are stored [in, out], the graph's layout.
        pairs = {
            "attn_norm.g": ("ln_1.weight", (h,)),
            "attn_norm.b": ("ln_1.bias", (h,)),
            "qkv.w": ("attn.c_attn.weight", (h, 3 * h)),
            "qkv.b": ("attn.c_attn.bias", (3 * h,)),
            "attn_out.w": ("attn.c_proj.weight", (h, h)),
            "attn_out.b": ("attn.c_proj.bias", (h,)),
            "mlp_norm.g": ("ln_2.weight", (h,)),
            "mlp_norm.b": ("ln_2.bias", (h,)),
            "up.w": ("mlp.c_fc.weight", (h, f)),
            "up.b": ("mlp.c_fc.bias", (f,)),
            "down.w": ("mlp.c_proj.weight", (f, h)),
            "down.b": ("mlp.c_proj.bias", (h,)),
        }
        for ours, (theirs, shape) in pairs.items():
            w[o + ours] = take(tensors, q + theirs, shape, file)
    if not spec.tie_word_embeddings:
        w["lm_head.w"] = take(tensors, "lm_head.weight", (v, h), file).T
    return w


def llama_weights(
    spec: TransformerSpec, tensors: dict[str, np.ndarray], file: str
) -> dict[str, np.ndarray]:
    h, f, v, d = spec.hidden_size, spec.ffn_hidden_size, spec.vocab_size, spec.head_dim
    qw, kw = spec.num_heads * d, spec.num_kv_heads * d
    p = name_prefix(tensors, "embed_tokens.weight", ("model.", ""))
    w: dict[str, np.ndarray] = {
        "embed.tokens": take(tensors, f"{p}embed_tokens.weight", (v, h), file),
        "final_norm.g": take(tensors, f"{p}norm.weight", (h,), file),
    }
    for i in range(spec.num_layers):
        q, o = f"{p}layers.{i}.", f"l{i}."

        def t(name: str, *shape: int, q: str = q) -> np.ndarray:
            return take(tensors, q + name, shape, file)

        # torch Linear weights are [out, in]; the graph takes [in, out].
        w[o + "attn_norm.g"] = t("input_layernorm.weight", h)
        w[o + "qkv.w"] = np.concatenate(
            [
                t("self_attn.q_proj.weight", qw, h).T,
                t("self_attn.k_proj.weight", kw, h).T,
                t("self_attn.v_proj.weight", kw, h).T,
            ],
            axis=1,
        )
        if spec.qkv_bias:
            w[o + "qkv.b"] = np.concatenate(
                [
                    t("self_attn.q_proj.bias", qw),
                    t("self_attn.k_proj.bias", kw),
                    t("self_attn.v_proj.bias", kw),
                ]
            )
        w[o + "attn_out.w"] = t("self_attn.o_proj.weight", h, qw).T
        if spec.attention_out_bias:
            w[o + "attn_out.b"] = t("self_attn.o_proj.bias", h)
        w[o + "mlp_norm.g"] = t("post_attention_layernorm.weight", h)
        w[o + "gate_up.w"] = np.concatenate(
            [t("mlp.gate_proj.weight", f, h).T, t("mlp.up_proj.weight", f, h).T], axis=1
        )
        w[o + "down.w"] = t("mlp.down_proj.weight", h, f).T
        if spec.mlp_bias:
            w[o + "gate_up.b"] = np.concatenate(
                [t("mlp.gate_proj.bias", f), t("mlp.up_proj.bias", f)]
            )
            w[o + "down.b"] = t("mlp.down_proj.bias", h)
    if not spec.tie_word_embeddings:
        w["lm_head.w"] = take(tensors, "lm_head.weight", (v, h), file).T
    return w
