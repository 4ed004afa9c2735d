"""Independent numpy forwards of Hugging Face GPT-2, Llama and BERT (sentence embedding)
from a checkpoint's tensors, in float64, following the transformers modelling code: the
reference the compiler's front end (`tigris.toolchain.frontends.hf`) is checked against. Also random
checkpoints in transformers' names and layouts (torch Linear [out, in], GPT-2 Conv1D
[in, out])."""

from __future__ import annotations

import numpy as np

F64 = np.float64


def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _rms(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.exp(-x))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention(q, k, v, causal: bool) -> np.ndarray:
    """q [n, H, d], k/v [n, KV, d] -> [n, H*d] (GQA: query head h uses kv head h // (H/KV))."""
    n, heads, d = q.shape
    group = heads // k.shape[1]
    out = np.zeros((n, heads, d))
    for h in range(heads):
        s = q[:, h] @ k[:, h // group].T / np.sqrt(d)
        if causal:
            s = np.where(np.tri(n, dtype=bool), s, -np.inf)
        out[:, h] = _softmax(s) @ v[:, h // group]
    return out.reshape(n, heads * d)


def gpt2_forward(cfg: dict, t: dict[str, np.ndarray], seqs: list[list[int]]) -> np.ndarray:
    t = {k: v.astype(F64) for k, v in t.items()}
    h, heads = cfg["n_embd"], cfg["n_head"]
    d, eps = h // heads, cfg.get("layer_norm_epsilon", 1e-5)
    outs = []
    for ids in seqs:
        n = len(ids)
        x = t["transformer.wte.weight"][ids] + t["transformer.wpe.weight"][:n]
        for i in range(cfg["n_layer"]):
            p = f"transformer.h.{i}."
            a = _ln(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"], eps)
            qkv = a @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
            q, k, v = (qkv[:, j * h : (j + 1) * h].reshape(n, heads, d) for j in range(3))
            o = _attention(q, k, v, causal=True)
            x = x + o @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
            m = _ln(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"], eps)
            u = _gelu_tanh(m @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
            x = x + u @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
        x = _ln(x, t["transformer.ln_f.weight"], t["transformer.ln_f.bias"], eps)
        outs.append(x @ t["transformer.wte.weight"].T)
    return np.concatenate(outs)


def _rope(x: np.ndarray, theta: float) -> np.ndarray:
    n, _, d = x.shape
    inv = theta ** (-np.arange(0, d, 2) / d)
    freqs = np.arange(n)[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], axis=1)[:, None, :]
    rotated = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], axis=-1)
    return x * np.cos(emb) + rotated * np.sin(emb)


def llama_forward(cfg: dict, t: dict[str, np.ndarray], seqs: list[list[int]]) -> np.ndarray:
    t = {k: v.astype(F64) for k, v in t.items()}
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    d = cfg.get("head_dim", h // heads)
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    outs = []
    for ids in seqs:
        n = len(ids)
        x = t["model.embed_tokens.weight"][ids]
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            a = _rms(x, t[p + "input_layernorm.weight"], eps)
            q = (a @ t[p + "self_attn.q_proj.weight"].T).reshape(n, heads, d)
            k = (a @ t[p + "self_attn.k_proj.weight"].T).reshape(n, kv, d)
            v = (a @ t[p + "self_attn.v_proj.weight"].T).reshape(n, kv, d)
            o = _attention(_rope(q, theta), _rope(k, theta), v, causal=True)
            x = x + o @ t[p + "self_attn.o_proj.weight"].T
            m = _rms(x, t[p + "post_attention_layernorm.weight"], eps)
            g = _silu(m @ t[p + "mlp.gate_proj.weight"].T) * (m @ t[p + "mlp.up_proj.weight"].T)
            x = x + g @ t[p + "mlp.down_proj.weight"].T
        x = _rms(x, t["model.norm.weight"], eps)
        head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
        outs.append(x @ head.T)
    return np.concatenate(outs)


def bert_forward(cfg: dict, t: dict[str, np.ndarray], seqs: list[list[int]]) -> np.ndarray:
    t = {k: v.astype(F64) for k, v in t.items()}
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps = h // heads, cfg.get("layer_norm_eps", 1e-12)
    e = "embeddings."
    outs = []
    for ids in seqs:
        n = len(ids)
        x = (
            t[e + "word_embeddings.weight"][ids]
            + t[e + "position_embeddings.weight"][:n]
            + t[e + "token_type_embeddings.weight"][0]
        )
        x = _ln(x, t[e + "LayerNorm.weight"], t[e + "LayerNorm.bias"], eps)
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            s = p + "attention.self."
            q, k, v = (
                (x @ t[s + f"{w}.weight"].T + t[s + f"{w}.bias"]).reshape(n, heads, d)
                for w in ("query", "key", "value")
            )
            o = _attention(q, k, v, causal=False)
            o = o @ t[p + "attention.output.dense.weight"].T + t[p + "attention.output.dense.bias"]
            x = _ln(
                x + o,
                t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            u = _gelu_erf(
                x @ t[p + "intermediate.dense.weight"].T + t[p + "intermediate.dense.bias"]
            )
            u = u @ t[p + "output.dense.weight"].T + t[p + "output.dense.bias"]
            x = _ln(x + u, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
        pooled = x.mean(0)
        outs.append(pooled / np.linalg.norm(pooled))
    return np.stack(outs)


def random_checkpoint(kind: str, cfg: dict, seed: int) -> dict[str, np.ndarray]:
    """Random tensors in transformers' names and layouts for a config of family `kind`."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 0.05, offset: float = 0.0) -> np.ndarray:
        return (offset + scale * rng.standard_normal(shape)).astype(np.float32)

    t: dict[str, np.ndarray] = {}
    if kind == "gpt2":
        h, f, v = cfg["n_embd"], cfg.get("n_inner") or 4 * cfg["n_embd"], cfg["vocab_size"]
        t["transformer.wte.weight"] = w(v, h)
        t["transformer.wpe.weight"] = w(cfg["n_positions"], h)
        for i in range(cfg["n_layer"]):
            p = f"transformer.h.{i}."
            for ln in ("ln_1", "ln_2"):
                t[p + ln + ".weight"] = w(h, scale=0.1, offset=1.0)
                t[p + ln + ".bias"] = w(h)
            t[p + "attn.c_attn.weight"], t[p + "attn.c_attn.bias"] = w(h, 3 * h), w(3 * h)
            t[p + "attn.c_proj.weight"], t[p + "attn.c_proj.bias"] = w(h, h), w(h)
            t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = w(h, f), w(f)
            t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = w(f, h), w(h)
            t[p + "attn.bias"] = np.tril(np.ones((1, 1, 8, 8), np.float32))  # a buffer
        t["transformer.ln_f.weight"] = w(h, scale=0.1, offset=1.0)
        t["transformer.ln_f.bias"] = w(h)
    elif kind == "llama":
        h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
        heads = cfg["num_attention_heads"]
        kv = cfg.get("num_key_value_heads", heads)
        d = cfg.get("head_dim", h // heads)
        t["model.embed_tokens.weight"] = w(v, h)
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            t[p + "input_layernorm.weight"] = w(h, scale=0.1, offset=1.0)
            t[p + "post_attention_layernorm.weight"] = w(h, scale=0.1, offset=1.0)
            t[p + "self_attn.q_proj.weight"] = w(heads * d, h)
            t[p + "self_attn.k_proj.weight"] = w(kv * d, h)
            t[p + "self_attn.v_proj.weight"] = w(kv * d, h)
            t[p + "self_attn.o_proj.weight"] = w(h, heads * d)
            t[p + "mlp.gate_proj.weight"] = w(f, h)
            t[p + "mlp.up_proj.weight"] = w(f, h)
            t[p + "mlp.down_proj.weight"] = w(h, f)
        t["model.norm.weight"] = w(h, scale=0.1, offset=1.0)
        if not cfg.get("tie_word_embeddings", False):
            t["lm_head.weight"] = w(v, h)
    else:
        from tigris.toolchain.frontends.bert import bert_tensor_shapes

        for name, shape in bert_tensor_shapes(cfg).items():
            gain = "LayerNorm.weight" in name
            t[name] = w(*shape, scale=0.1 if gain else 0.05, offset=1.0 if gain else 0.0)
    return t
