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


def _resolve(kind: str, name: str) -> Path:
    """The file behind a catalog id of `kind` ('chip' or 'system'), or the path given."""
    if _looks_like_path(name):
        return Path(name)
    path = _catalog_dir(f"{kind}s") / f"{name}.yaml"
    if not path.is_file():
        known = list_chip_ids() if kind == "chip" else list_system_ids()
        raise _unknown(kind, name, known)
    return path


@lru_cache(maxsize=256)
def _load_file(spec: type[Chip] | type[Cluster], path: str) -> Chip | Cluster:
    return validate_spec(spec, load_mapping(path), file=path)


def _load(kind: str, spec: type[Chip] | type[Cluster], name: str | Path):
    text = str(name)
    path = _resolve(kind, text)
    loaded = _load_file(spec, str(path))
    if not _looks_like_path(text) and loaded.id != text:
        raise SpecError(
            f"id {loaded.id!r} does not match the file name", file=str(path), key_path="id"
        )
    return loaded


def load_chip(name: str | Path) -> Chip:
    """A Chip from a catalog id (`h100-sxm`) or a YAML file path."""
    return _load("chip", Chip, name)


def load_cluster(name: str | Path) -> Cluster:
    """A Cluster (system) from a catalog id (`dgx-h100`) or a YAML file path."""
    return _load("system", Cluster, name)


def default_cluster(chip: Chip) -> Cluster | None:
    """The chip's published system, if it names one."""
    return load_cluster(chip.default_system) if chip.default_system else None


def chip_path(name: str) -> Path:
    """The YAML file behind a chip id or path (for applying overrides before validation)."""
    return _resolve("chip", name)


def load_chip_with_overrides(name: str, assignments: list[str]) -> Chip:
    """A chip with `key.path=value` overrides applied, validated as a whole."""
    if not assignments:
        return load_chip(name)
    from tigris.io.overrides import apply_overrides

    path = chip_path(name)
    data = apply_overrides(load_mapping(path), assignments)
    return validate_spec(Chip, data, file=f"{path} (with --set)")
