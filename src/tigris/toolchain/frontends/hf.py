"""A user's model for `tigris compile` / `tigris run`: a Hugging Face `config.json` (random
weights from a seed: for timing) or a safetensors checkpoint (a directory with config.json
and model.safetensors or a sharded model.safetensors.index.json, or a .safetensors file
with config.json beside it).

Families (model_type):
- gpt2: learned positions, LayerNorm, fused QKV (Conv1D weights, already [in, out]), MLP
  with `activation_function` (gelu_new / gelu_pytorch_tanh / gelu_fast -> tanh GELU, gelu
  -> erf GELU, relu, silu), tied LM head.
- llama, mistral: RMSNorm (`rms_norm_eps`), GQA, RoPE (`rope_theta`), gated MLP
  (`hidden_act` silu, gelu, gelu_new), `attention_bias`, `mlp_bias`, LM head (or tied).
  Mistral's sliding window is exact, and accepted, when every sequence fits in it.
- bert: the sentence-embedding encoder of `tigris.toolchain.frontends.bert` (mean pooling, L2 norm).
What the compiler cannot lower is refused by name (UnsupportedError, exit 2): mixture of
experts, rope scaling, partial rotary, other activations, relative positions, cross
attention, GPT-2's per-layer attention scaling. Graphs reuse `tigris.toolchain.frontends.decoder` and
`tigris.toolchain.frontends.bert`.

Compile and simulation time grow with parameters and multiply-accumulates: `estimate`
gives a rough figure (measured on a 2-core development machine), so that a model too big
to simulate is refused with the estimate rather than left running for hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tigris.errors import SpecError, UnsupportedError
from tigris.io.loader import parse_text, read_text
from tigris.toolchain.compiler.graph import Graph
from tigris.toolchain.frontends.bert import ACTIVATIONS as BERT_ACTIVATIONS
from tigris.toolchain.frontends.bert import bert_graph, bert_tensor_shapes, random_bert_tensors
from tigris.toolchain.frontends.decoder import ROPE_BASE, decoder_graph
from tigris.toolchain.frontends.hf_weights import (
    gpt2_weights,
    llama_weights,
    name_prefix,
    read_checkpoint,
    take,
)
from tigris.workload.hf_config import from_hf_config
from tigris.workload.spec import TransformerSpec

SUPPORTED_TYPES = ("bert", "gpt2", "llama", "mistral")
CHECKPOINT_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

GPT2_ACTIVATIONS = {
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu": "gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
GATED_ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
}

# Rough cost model of compile + simulation on a 2-core development machine (seconds per
# multiply-accumulate of the prefill, per parameter, per layer); see `estimate`.
RUN_S_PER_MAC = {"bf16": 3.5e-9, "fp8": 5.0e-9, "int8": 19e-9}
COMPILE_S_PER_MAC = {"bf16": 0.2e-9, "fp8": 3.0e-9, "int8": 1.5e-9}
S_PER_PARAM = 80e-9
COMPILE_S_PER_LAYER, RUN_S_PER_LAYER = 0.05, 0.3
DEFAULT_MAX_MINUTES = 5.0


@dataclass(frozen=True)
class UserModel:
    """A model given by a config.json, with or without checkpoint weights."""

    name: str
    model_type: str
    config: dict[str, Any] = field(repr=False)
    config_file: Path
    weight_files: tuple[Path, ...]  # empty: random weights from the seed
    spec: TransformerSpec | None  # decoders
    activation: str  # the compiler's name for the MLP activation
    norm_eps: float
    rope_base: float
    vocab_size: int
    num_layers: int
    num_params: int
    max_positions: int | None  # learned position tables have this many rows
    sliding_window: int | None

    @property
    def random(self) -> bool:
        return not self.weight_files

    @property
    def source(self) -> str:
        what = "random weights" if self.random else "checkpoint " + str(self.weight_files[0])
        return f"{self.model_type} from {self.config_file} ({what})"


def _refuse(what: str, key: str, file: Path) -> UnsupportedError:
    return UnsupportedError(f"{file}: {key}: {what} cannot be lowered to the Tigris ISA")


def _int(config: dict[str, Any], key: str, file: Path, default: int | None = None) -> int:
    value = config.get(key, default)
    if value is None:
        raise SpecError("required key is missing", file=str(file), key_path=key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"expected a positive integer, got {value!r}", file=str(file), key_path=key)
    return value


def _float(config: dict[str, Any], key: str, file: Path, default: float) -> float:
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SpecError(f"expected a positive number, got {value!r}", file=str(file), key_path=key)
    return float(value)


def _activation(
    config: dict[str, Any], key: str, default: str, table: dict[str, str], file: Path
) -> str:
    name = config.get(key, default)
    if name not in table:
        raise _refuse(f"activation {name!r} (supported: {', '.join(table)})", key, file)
    return table[name]


def _program_name(config_file: Path, model_type: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", config_file.resolve().parent.name).strip("_")
    return name or model_type


def _weight_files(directory: Path) -> tuple[Path, ...]:
    if (directory / CHECKPOINT_FILE).exists():
        return (directory / CHECKPOINT_FILE,)
    index = directory / INDEX_FILE
    if index.exists():
        data = parse_text(
            read_text(index, what="checkpoint index"), file=str(index), json_only=True
        )
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise SpecError("expected a weight_map of tensor -> shard file", file=str(index))
        shards = sorted({str(v) for v in weight_map.values()})
        return tuple(directory / shard for shard in shards)
    return ()


def is_model_path(target: str) -> bool:
    """Whether `target` names a file or directory (a user model) rather than a built-in."""
    return Path(target).exists() or target.endswith((".json", ".safetensors")) or "/" in target


def resolve_model(target: str) -> UserModel:
    """The user model at `target`: a config.json (random weights), a checkpoint directory,
    or a .safetensors file with config.json beside it. SpecError if it is none of these;
    UnsupportedError naming what the compiler cannot lower."""
    path = Path(target)
    if not path.exists():
        raise SpecError(
            "no such file or directory",
            file=target,
            key_path="MODEL",
            hint="a built-in (gpt2-tiny, llama-tiny, minilm), a config.json, a .safetensors "
            "file or a checkpoint directory",
        )
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.exists():
            raise SpecError(
                "a model directory needs a config.json", file=str(path), key_path="MODEL"
            )
        weights = _weight_files(path)
        if not weights:
            raise SpecError(
                f"no {CHECKPOINT_FILE} (nor {INDEX_FILE}) beside config.json",
                file=str(path),
                key_path="MODEL",
                hint=f"pass {config_file} to compile with random weights; other checkpoint "
                "formats (pytorch_model.bin) are not read",
            )
    elif path.suffix == ".safetensors":
        config_file = path.parent / "config.json"
        if not config_file.exists():
            raise SpecError(
                f"a checkpoint needs its config.json beside it ({config_file} is missing)",
                file=str(path),
                key_path="MODEL",
            )
        weights = (path,)
    elif path.name == INDEX_FILE:
        config_file = path.parent / "config.json"
        weights = _weight_files(path.parent)
    elif path.suffix == ".json":
        config_file, weights = path, ()
    else:
        raise SpecError(
            "expected a config.json, a .safetensors file or a checkpoint directory",
            file=str(path),
            key_path="MODEL",
        )
    config = parse_text(
        read_text(config_file, what="config.json"), file=str(config_file), json_only=True
    )
    if not isinstance(config, dict):
        raise SpecError(
            "expected a JSON object (a Hugging Face config.json)", file=str(config_file)
        )
    return _user_model(config, config_file, weights)


def _user_model(config: dict[str, Any], file: Path, weights: tuple[Path, ...]) -> UserModel:
    model_type = _supported_model_type(config, file)
    name = _program_name(file, model_type)
    if model_type == "bert":
        return _bert_model(config, file, weights, name)
    if model_type == "gpt2":
        activation, norm_eps, rope_base = _gpt2_numerics(config, file)
    else:
        activation, norm_eps, rope_base = _llama_numerics(config, file)
    spec = from_hf_config(config, name, file=str(file))
    window = spec.sliding_window
    if window is not None:
        spec = spec.model_copy(update={"sliding_window": None})
    if spec.position == "rope" and spec.head_dim % 2:
        raise _refuse(f"RoPE on an odd head_dim ({spec.head_dim})", "head_dim", file)
    return UserModel(
        name=name,
        model_type=model_type,
        config=config,
        config_file=file,
        weight_files=weights,
        spec=spec,
        activation=activation,
        norm_eps=norm_eps,
        rope_base=rope_base,
        vocab_size=spec.vocab_size,
        num_layers=spec.num_layers,
        num_params=spec.num_params,
        max_positions=spec.max_position_embeddings if spec.position == "learned" else None,
        sliding_window=window,
    )


def _supported_model_type(config: dict[str, Any], file: Path) -> str:
    """The config's model_type, or a SpecError when it is missing, a mixture of experts
    (refused by name, whatever its type) or a type the compiler has no front end for."""
    model_type = config.get("model_type")
    if model_type is None:
        raise SpecError(
            "required key is missing (a Hugging Face config.json names its model_type)",
            file=str(file),
            key_path="model_type",
        )
    if config.get("num_local_experts") or config.get("num_experts") or model_type == "mixtral":
        raise _refuse("mixture of experts", "num_local_experts", file)
    if model_type not in SUPPORTED_TYPES:
        raise SpecError(
            f"model_type {model_type!r} is not supported by the compiler",
            file=str(file),
            key_path="model_type",
            hint="supported: " + ", ".join(SUPPORTED_TYPES),
        )
    return str(model_type)


def _gpt2_numerics(config: dict[str, Any], file: Path) -> tuple[str, float, float]:
    """(activation, norm eps, RoPE base) of a GPT-2 config; refuses the attention
    variants the decoder front end does not build."""
    if config.get("scale_attn_weights", True) is False:
        raise _refuse("attention without 1/sqrt(head_dim) scaling", "scale_attn_weights", file)
    if config.get("scale_attn_by_inverse_layer_idx"):
        raise _refuse(
            "attention scaled by the inverse layer index",
            "scale_attn_by_inverse_layer_idx",
            file,
        )
    if config.get("add_cross_attention"):
        raise _refuse("cross attention", "add_cross_attention", file)
    activation = _activation(config, "activation_function", "gelu_new", GPT2_ACTIVATIONS, file)
    return activation, _float(config, "layer_norm_epsilon", file, 1e-5), ROPE_BASE


def _llama_numerics(config: dict[str, Any], file: Path) -> tuple[str, float, float]:
    """(activation, norm eps, RoPE base) of a Llama-style config; refuses RoPE scaling
    and partial rotary embeddings, which the decoder front end does not build."""
    scaling = config.get("rope_scaling")
    if scaling:
        kind = (
            scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else scaling
        )
        if kind != "default":
            raise _refuse(f"rope scaling {kind!r}", "rope_scaling", file)
    if config.get("partial_rotary_factor", 1) != 1:
        raise _refuse("partial rotary embedding", "partial_rotary_factor", file)
    activation = _activation(config, "hidden_act", "silu", GATED_ACTIVATIONS, file)
    norm_eps = _float(config, "rms_norm_eps", file, 1e-6)
    return activation, norm_eps, _float(config, "rope_theta", file, ROPE_BASE)


def _bert_model(
    config: dict[str, Any], file: Path, weights: tuple[Path, ...], name: str
) -> UserModel:
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise _refuse(
            f"position_embedding_type {config['position_embedding_type']!r} (absolute only)",
            "position_embedding_type",
            file,
        )
    if config.get("is_decoder"):
        raise _refuse("BERT as a causal decoder", "is_decoder", file)
    if config.get("add_cross_attention"):
        raise _refuse("cross attention", "add_cross_attention", file)
    sizes = {
        key: _int(config, key, file)
        for key in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "vocab_size",
            "max_position_embeddings",
        )
    }
    _int(config, "type_vocab_size", file, 2)
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        raise SpecError(
            f"hidden_size {sizes['hidden_size']} is not a multiple of "
            f"{sizes['num_attention_heads']} heads",
            file=str(file),
            key_path="num_attention_heads",
        )
    activation = _activation(config, "hidden_act", "gelu", BERT_ACTIVATIONS, file)
    params = sum(int(np.prod(s)) for s in bert_tensor_shapes(config).values())
    return UserModel(
        name=name,
        model_type="bert",
        config=config,
        config_file=file,
        weight_files=weights,
        spec=None,
        activation=activation,
        norm_eps=_float(config, "layer_norm_eps", file, 1e-12),
        rope_base=ROPE_BASE,
        vocab_size=sizes["vocab_size"],
        num_layers=sizes["num_hidden_layers"],
        num_params=params,
        max_positions=sizes["max_position_embeddings"],
        sliding_window=None,
    )


# ---- cost --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    compile_s: float
    run_s: float
    macs: float
    num_params: int
    num_tokens: int


def estimate(model: UserModel, seq_lengths: tuple[int, ...], mode: str) -> Estimate:
    """Rough seconds to compile and to simulate `model` over `seq_lengths` in `mode`."""
    tokens = sum(seq_lengths)
    squares = sum(n * n for n in seq_lengths)
    if model.spec is not None:
        s = model.spec
        h, d, heads, kv, f = (
            s.hidden_size,
            s.head_dim,
            s.num_heads,
            s.num_kv_heads,
            s.ffn_hidden_size,
        )
        mlp = 3 * h * f if s.gated_mlp else 2 * h * f
        per_layer = h * (heads + 2 * kv) * d + heads * d * h + mlp
        linear = tokens * (s.num_layers * per_layer + h * s.vocab_size)
        attention = 2 * s.num_layers * heads * d * squares
    else:
        c = model.config
        h, f = c["hidden_size"], c["intermediate_size"]
        linear = tokens * c["num_hidden_layers"] * (4 * h * h + 2 * h * f)
        attention = 2 * c["num_hidden_layers"] * h * squares
    macs = float(linear + attention)
    fixed = S_PER_PARAM * model.num_params
    return Estimate(
        compile_s=1.0
        + fixed
        + COMPILE_S_PER_LAYER * model.num_layers
        + COMPILE_S_PER_MAC[mode] * macs,
        run_s=RUN_S_PER_LAYER * model.num_layers + RUN_S_PER_MAC[mode] * macs,
        macs=macs,
        num_params=model.num_params,
        num_tokens=tokens,
    )


def check_budget(
    model: UserModel,
    seq_lengths: tuple[int, ...],
    mode: str,
    *,
    max_minutes: float = DEFAULT_MAX_MINUTES,
    run: bool,
    max_hbm_bytes: int,
) -> Estimate:
    """The estimate; SpecError with it and a hint when compiling (and, if `run`, simulating)
    would take longer than `max_minutes`, or the weights exceed what the executor holds."""
    cost = estimate(model, seq_lengths, mode)
    if cost.num_params * 4 > max_hbm_bytes:
        raise SpecError(
            f"{cost.num_params / 1e6:,.0f} M parameters: more than the executor holds in host "
            f"memory ({max_hbm_bytes / 2**30:.0f} GiB, at 4 bytes a parameter)",
            file=str(model.config_file),
            hint="the compiler is for tiny configs (a few layers, hidden size in the hundreds)",
        )
    seconds = cost.compile_s + (cost.run_s if run else 0.0)
    if seconds > 60 * max_minutes:
        what = "compile and simulate" if run else "compile"
        raise SpecError(
            f"about {seconds / 60:,.0f} min to {what} ({cost.num_params / 1e6:,.1f} M "
            f"parameters, {cost.macs / 1e9:,.1f} GMAC over {cost.num_tokens} tokens in {mode}); "
            f"the limit is {max_minutes:g} min",
            file=str(model.config_file),
            hint="tiny configs are the intended use: fewer layers, a smaller hidden_size or "
            "vocab_size, fewer tokens (--input), bf16; or raise --max-minutes",
        )
    return cost


# ---- graphs ------------------------------------------------------------------------------


def check_lengths(model: UserModel, seq_lengths: tuple[int, ...]) -> None:
    """SpecError/UnsupportedError when a sequence is longer than the model can take."""
    longest = max(seq_lengths)
    if model.max_positions is not None and longest > model.max_positions:
        raise SpecError(
            f"a sequence of {longest} tokens is longer than the model's "
            f"{model.max_positions} positions",
            key_path="--input",
        )
    if model.sliding_window is not None and longest > model.sliding_window:
        raise UnsupportedError(
            f"{model.config_file}: sliding_window: sliding-window attention cannot be lowered "
            f"to the Tigris ISA, and a sequence of {longest} tokens is longer than the window "
            f"({model.sliding_window}); sequences within it are exact and accepted"
        )


def model_graph(model: UserModel, seq_lengths: tuple[int, ...], *, seed: int = 0) -> Graph:
    """The compiler graph of `model` over sequences of `seq_lengths` tokens: checkpoint
    weights, or random ones from `seed`."""
    check_lengths(model, seq_lengths)
    file = str(model.weight_files[0]) if model.weight_files else str(model.config_file)
    tensors = read_checkpoint(model.weight_files) if model.weight_files else None
    if model.spec is None:
        config = dict(model.config)
        shapes = bert_tensor_shapes(config)
        if tensors is None:
            tensors = random_bert_tensors(config, seed)
        else:
            p = name_prefix(tensors, "embeddings.word_embeddings.weight", ("", "bert."))
            tensors = {name: take(tensors, p + name, shape, file) for name, shape in shapes.items()}
        return bert_graph(config, tensors, seq_lengths, name=model.name)
    weights = None
    if tensors is not None:
        mapping = gpt2_weights if model.model_type == "gpt2" else llama_weights
        weights = mapping(model.spec, tensors, file)
    return decoder_graph(
        model.spec,
        seq_lengths,
        seed=seed,
        weights=weights,
        norm_eps=model.norm_eps,
        rope_base=model.rope_base,
        activation=model.activation,
    )


def describe(model: UserModel) -> dict[str, Any]:
    """A short JSON-able description (for messages and reports)."""
    return {
        "model_type": model.model_type,
        "config": str(model.config_file),
        "weights": [str(f) for f in model.weight_files] or "random",
        "num_params": model.num_params,
        "num_layers": model.num_layers,
        "vocab_size": model.vocab_size,
    }


__all__ = [
    "Estimate",
    "UserModel",
    "check_budget",
    "check_lengths",
    "describe",
    "estimate",
    "is_model_path",
    "model_graph",
    "resolve_model",
]
