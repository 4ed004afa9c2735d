"""The preset catalog: one YAML per chip (catalog/chips) and per system (catalog/systems).

Anywhere a chip is taken, a catalog id or a path to a YAML file works.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tigris.errors import SpecError
from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster
from tigris.io.loader import load_mapping, validate_spec


def _catalog_dir(kind: str) -> Path:
    return Path(str(resources.files("tigris.hardware") / "catalog" / kind))


def list_chip_ids() -> list[str]:
    return sorted(path.stem for path in _catalog_dir("chips").glob("*.yaml"))


def list_system_ids() -> list[str]:
    return sorted(path.stem for path in _catalog_dir("systems").glob("*.yaml"))


def _unknown(kind: str, name: str, known: list[str]) -> SpecError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known {kind}s: {', '.join(known)}"
    return SpecError(f"unknown {kind} {name!r}", key_path=kind, hint=hint)


def _looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml", ".json")) or "/" in name


@lru_cache(maxsize=256)
def _load_chip_file(path: str) -> Chip:
    chip = validate_spec(Chip, load_mapping(path), file=path)
    return chip


def load_chip(name: str | Path) -> Chip:
    """A Chip from a catalog id (`h100-sxm`) or a YAML file path."""
    text = str(name)
    if _looks_like_path(text):
        return _load_chip_file(text)
    path = _catalog_dir("chips") / f"{text}.yaml"
    if not path.is_file():
        raise _unknown("chip", text, list_chip_ids())
    chip = _load_chip_file(str(path))
    if chip.id != text:
        raise SpecError(
            f"id {chip.id!r} does not match the file name", file=str(path), key_path="id"
        )
    return chip


@lru_cache(maxsize=64)
def _load_cluster_file(path: str) -> Cluster:
    return validate_spec(Cluster, load_mapping(path), file=path)


def load_cluster(name: str | Path) -> Cluster:
    """A Cluster (system) from a catalog id (`dgx-h100`) or a YAML file path."""
    text = str(name)
    if _looks_like_path(text):
        return _load_cluster_file(text)
    path = _catalog_dir("systems") / f"{text}.yaml"
    if not path.is_file():
        raise _unknown("system", text, list_system_ids())
    return _load_cluster_file(str(path))


def default_cluster(chip: Chip) -> Cluster | None:
    """The chip's published system, if it names one."""
    return load_cluster(chip.default_system) if chip.default_system else None


def chip_path(name: str) -> Path:
    """The YAML file behind a chip id or path (for applying overrides before validation)."""
    if _looks_like_path(name):
        return Path(name)
    path = _catalog_dir("chips") / f"{name}.yaml"
    if not path.is_file():
        raise _unknown("chip", name, list_chip_ids())
    return path


def load_chip_with_overrides(name: str, assignments: list[str]) -> Chip:
    """A chip with `key.path=value` overrides applied, validated as a whole."""
    if not assignments:
        return load_chip(name)
    from tigris.io.overrides import apply_overrides

    path = chip_path(name)
    data = apply_overrides(load_mapping(path), assignments)
    return validate_spec(Chip, data, file=f"{path} (with --set)")
