"""The pieces every `config.json` reader shares: a checked key lookup (`Config`) and the
keys the Llama-style configs have in common (transformers LlamaConfig names).

Keys starting with '_' (such as `_source`) are comments and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tigris.errors import SpecError, given

Reader = Callable[["Config"], dict[str, Any]]


class Config:
    """A config mapping whose missing keys raise SpecError naming the file and key."""

    def __init__(self, data: Mapping[str, Any], file: str | None, prefix: str = "") -> None:
        self.data = {key: value for key, value in data.items() if not str(key).startswith("_")}
        self.file = file
        self.prefix = prefix

    def require(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise SpecError("required key is missing", file=self.file, key_path=self.prefix + key)
        return self.data[key]

    def get(self, key: str, default: Any) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def whole(self, key: str, default: Any = ...) -> Any:
        """A positive whole number (4096 or 4096.0; not 1.5, true, "4096" or NaN), or
        `default` when the key is missing or null (a required key without one)."""
        value = self.data.get(key)
        if value is None:
            return self.require(key) if default is ... else default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(
                f"expected a whole number, got {given(value)}",
                file=self.file,
                key_path=self.prefix + key,
            )
        if isinstance(value, float) and not value.is_integer():
            raise SpecError(
                f"expected a whole number, got {given(value)}",
                file=self.file,
                key_path=self.prefix + key,
            )
        if value <= 0:
            raise SpecError(
                f"must be positive, got {given(value)}", file=self.file, key_path=self.prefix + key
            )
        return int(value)

    def count(self, key: str) -> int:
        """A whole number >= 0 (0 when missing or null)."""
        return 0 if self.data.get(key) in (None, 0) else self.whole(key)

    def fraction(self, key: str, default: float) -> float:
        """A number in (0, 1] (not "0.5" or true, which pydantic would quietly convert)."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(
                f"expected a number in (0, 1], got {given(value)}",
                file=self.file,
                key_path=self.prefix + key,
            )
        if not 0 < value <= 1:
            raise SpecError(
                f"must be in (0, 1], got {given(value)}", file=self.file, key_path=self.prefix + key
            )
        return float(value)

    def sub(self, key: str) -> Config:
        """The nested config under `key` (Llama 4's and Gemma 3's text_config), or this one
        when there is none; its keys are named `key.name` in errors."""
        nested = self.data.get(key)
        if nested is None:
            return self
        if not isinstance(nested, Mapping):
            raise SpecError(
                f"expected a mapping, got {given(nested)}", file=self.file, key_path=key
            )
        return Config(nested, self.file, prefix=f"{self.prefix}{key}.")

    def kinds(self, key: str, allowed: tuple[Any, ...], layers: int) -> list[Any] | None:
        """A list of `layers` entries, each one of `allowed`; None when missing or empty."""
        value = self.data.get(key)
        if not value:
            return None
        if not isinstance(value, list) or len(value) != layers:
            raise SpecError(
                f"expected a list of {layers} entries, got {given(value)}",
                file=self.file,
                key_path=self.prefix + key,
            )
        bad = [entry for entry in value if entry not in allowed]
        if bad:
            raise SpecError(
                f"unknown entry {given(bad[0])}",
                file=self.file,
                key_path=self.prefix + key,
                hint=f"expected one of {', '.join(map(str, allowed))}",
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        """true or false (a string such as "false" would read as true)."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise SpecError(
                f"expected true or false, got {given(value)}",
                file=self.file,
                key_path=self.prefix + key,
            )
        return value


def head_dim(config: Config, hidden: int, heads: int, heads_key: str) -> int:
    if config.data.get("head_dim") is not None:
        return config.whole("head_dim")
    if hidden % heads:
        raise SpecError(
            f"hidden size {hidden} is not a multiple of {heads} heads; give head_dim",
            file=config.file,
            key_path=config.prefix + heads_key,
        )
    return hidden // heads


def activation(config: Config, key: str, gated: bool) -> str:
    act = config.get(key, "silu" if gated else "gelu")
    if not isinstance(act, str):
        raise SpecError(
            f"expected an activation name, got {given(act)}",
            file=config.file,
            key_path=config.prefix + key,
        )
    if gated:
        if act in ("silu", "swish"):
            return "swiglu"
        if act.startswith("gelu"):
            return "geglu"
    else:
        if act.startswith("gelu"):
            return "gelu"
        if act in ("relu", "silu", "relu2"):
            return act
    raise SpecError(
        f"unsupported activation {given(act)}", file=config.file, key_path=config.prefix + key
    )


def kv_heads(config: Config, heads: int) -> int:
    """num_key_value_heads must divide num_attention_heads (GQA groups of equal size)."""
    kv = config.whole("num_key_value_heads", heads)
    if heads % kv:
        raise SpecError(
            f"{kv} KV heads do not divide the {heads} attention heads",
            file=config.file,
            key_path=config.prefix + "num_key_value_heads",
            hint="num_attention_heads must be a multiple of num_key_value_heads",
        )
    return kv


def read_llama_like(config: Config, *, gated: bool = True) -> dict[str, Any]:
    """Llama, Mistral, Mixtral and Qwen2 share these keys (transformers LlamaConfig)."""
    hidden = config.whole("hidden_size")
    heads = config.whole("num_attention_heads")
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": kv_heads(config, heads),
        "head_dim": head_dim(config, hidden, heads, "num_attention_heads"),
        "ffn_hidden_size": config.whole("intermediate_size"),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("max_position_embeddings"),
        "activation": activation(config, "hidden_act", gated=gated),
        "gated_mlp": gated,
        "norm": "rmsnorm",
        "position": "rope",
        "tie_word_embeddings": config.flag("tie_word_embeddings", False),
        "qkv_bias": config.flag("attention_bias", False),
        "attention_out_bias": config.flag("attention_bias", False),
        "mlp_bias": config.flag("mlp_bias", False),
    }


def opt_in_sliding_window(config: Config) -> int | None:
    """Qwen2/Qwen3: `sliding_window` applies only when `use_sliding_window` is set (the
    published configs carry a window they do not use)."""
    if config.flag("use_sliding_window", False):
        return config.whole("sliding_window", None)
    return None
