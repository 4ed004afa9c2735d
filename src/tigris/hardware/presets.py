"""The preset catalog: one YAML per chip (catalog/chips) and per system (catalog/systems).

Anywhere a chip is taken, a catalog id or a path to a YAML file works.

A file may start from another with `base:` (a catalog id, or a path relative to the
file) and give only what differs: mappings merge key by key, anything else (numbers,
lists) replaces the base's value, and `sources` merge the same way, so each number the
file changes cites its own source. A variant of a product, or a user's design "an H100
with 141 GB", is a few lines:

    base: h100-sxm
    id: my-h100-141
    name: H100 with HBM3e
    memory: {dram: {capacity: 141 GB, bandwidth: 4.8 TB/s}}
"""

from __future__ import annotations

import difflib
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from tigris.errors import SpecError
from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster
from tigris.io.loader import load_mapping, validate_spec
from tigris.io.spec_cache import cached_spec


@cache  # importlib.resources takes ~70 us a call: a sixth of a warm `infer` estimate
def _catalog_dir(kind: str) -> Path:
    beside = Path(__file__).parent / "catalog" / kind
    if beside.is_dir():  # installed as files: importlib.resources' readers (~20 ms to
        return beside  # import) would give the same folder
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
    return _catalog_file(kind, name)


@cache  # the catalog does not change while Tigris runs; only ids found are kept
def _catalog_file(kind: str, name: str) -> Path:
    path = _catalog_dir(f"{kind}s") / f"{name}.yaml"
    if not path.is_file():
        known = list_chip_ids() if kind == "chip" else list_system_ids()
        raise _unknown(kind, name, known)
    return path


MAX_BASE_DEPTH = 8


def spec_mapping(path: str | Path, kind: str = "chip", read: list[Path] | None = None) -> dict:
    """The mapping of a chip or system file with its `base:` chain merged in (see the
    module docstring); SpecError naming `base` for an unknown or circular base. Every file
    read is appended to `read` when given."""
    return _merged(Path(path), kind, (), [] if read is None else read)


def _merged(path: Path, kind: str, chain: tuple[Path, ...], read: list[Path]) -> dict:
    data = load_mapping(path)
    read.append(path)
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base:
        raise SpecError("base must name a catalog id or a file", file=str(path), key_path="base")
    try:
        base_path = (
            path.parent / base
            if _looks_like_path(base) and not Path(base).is_absolute()
            else _resolve(kind, base)
        )
    except SpecError as error:
        raise SpecError(error.message, file=str(path), key_path="base", hint=error.hint) from None
    here = path.resolve()
    if here in chain:
        raise SpecError(f"base {base!r} leads back to this file", file=str(path), key_path="base")
    if len(chain) >= MAX_BASE_DEPTH:
        raise SpecError(
            f"base {base!r} makes a chain of more than {MAX_BASE_DEPTH} files",
            file=str(path),
            key_path="base",
            hint="start from a catalog id or a file nearer the top",
        )
    if not base_path.is_file():
        raise SpecError(f"no such file {str(base_path)!r}", file=str(path), key_path="base")
    return _merge(_merged(base_path, kind, (*chain, here), read), data)


def _merge(base: dict, override: dict) -> dict:
    """`override` over `base`: mappings key by key, anything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@lru_cache(maxsize=256)
def _load_file(spec: type[Chip] | type[Cluster], path: str) -> Chip | Cluster:
    """The spec of a file, validated once per process and kept on disk between processes
    (tigris.io.spec_cache: the same object, without parsing or validating again)."""
    kind = "chip" if spec is Chip else "system"
    return cached_spec(kind, path, lambda: _validated(spec, kind, path))


def _validated(
    spec: type[Chip] | type[Cluster], kind: str, path: str
) -> tuple[Chip | Cluster, list[Path]]:
    """The spec of a file and every file read for it (the file, its `base:` chain); its
    value JSON made now and kept with it (`Spec.value_json`: in the spec cache too)."""
    read: list[Path] = []
    loaded = validate_spec(spec, spec_mapping(path, kind, read), file=path)
    loaded.value_json()
    return loaded, read


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
    data = apply_overrides(spec_mapping(path), assignments)
    return validate_spec(Chip, data, file=f"{path} (with --set)")
