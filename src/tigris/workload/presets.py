"""The model catalog: one Hugging Face-style config.json per model in catalog/models.

Anywhere a model is taken, a catalog id (`llama3-70b`) or a path to a config.json works.
Each shipped file carries `_source`, the URL of the public config or paper it copies.
"""

from __future__ import annotations

import difflib
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError
from tigris.io.spec_cache import cached_spec

if TYPE_CHECKING:
    from tigris.workload.spec import TransformerSpec


@cache  # importlib.resources takes ~70 us a call, more than a warm estimate's model step
def _models_dir() -> Path:
    beside = Path(__file__).parent / "catalog" / "models"
    if beside.is_dir():  # installed as files: importlib.resources' readers (~20 ms to
        return beside  # import) would give the same folder
    return Path(str(resources.files("tigris.workload") / "catalog" / "models"))


def list_model_ids() -> list[str]:
    """Ids of the shipped models, sorted."""
    return sorted(path.name.removesuffix(".json") for path in _models_dir().glob("*.json"))


def _looks_like_path(name: str) -> bool:
    return name.endswith((".json", ".yaml", ".yml")) or "/" in name or "\\" in name


def _unknown_model(name: str) -> SpecError:
    known = list_model_ids()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(known)}"
    return SpecError(f"unknown model {name!r}", key_path="model", hint=hint)


@lru_cache(maxsize=128)
def _load_file(path: str, name: str) -> TransformerSpec:
    """The spec of a config file, read once per process and kept on disk between processes
    (tigris.io.spec_cache: the same object, without reading the config again)."""
    return cached_spec("model", path, lambda: _read_config(path, name), variant=name)


def _read_config(path: str, name: str) -> tuple[TransformerSpec, list[str]]:
    from tigris.io.loader import load_mapping
    from tigris.workload.hf_config import from_hf_config

    spec = from_hf_config(load_mapping(path), name, file=path)
    spec.value_json()  # kept with it, in the spec cache too (Spec.value_json)
    return spec, [path]


def load_model(name_or_path: str | Path) -> TransformerSpec:
    """A TransformerSpec from a catalog id or a config.json path (SpecError otherwise).

    A file's model is named after the file (its parent folder when the file is the
    conventional `config.json`).
    """
    text = str(name_or_path)
    if _looks_like_path(text):
        path = Path(text)
        stem = path.parent.name if path.name == "config.json" else path.stem
        return _load_file(text, stem or text)
    return _load_file(_catalog_file(text), text)


@cache  # the catalog does not change while Tigris runs; only ids found are kept
def _catalog_file(model_id: str) -> str:
    path = _models_dir() / f"{model_id}.json"
    if not path.is_file():
        raise _unknown_model(model_id)
    return str(path)
