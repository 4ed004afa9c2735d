"""Validated spec files kept on disk, so that a fresh process loads a preset without
parsing YAML and running pydantic's validation (most of a one-chip `tigris gemm`).

The cache is outside the models: it stores the object `validate_spec` returned and gives
back an equal one (pickle keeps every float bit for bit); whatever it holds, deleting it
changes nothing but the time. An entry is used only when it was written from the same
bytes of every file the spec was read from (a chip and its `base:` chain) by the same
code: its fingerprint hashes the sources of the spec packages and the pydantic, pydantic
core and PyYAML versions, so an edit anywhere in them, or an upgrade, misses. One entry
per file path (a changed file overwrites its entry: the cache does not grow with edits).
An entry whose bytes do not match the digest it starts with is ignored and rewritten.

Where: `$TIGRIS_CACHE_DIR`, else `$XDG_CACHE_HOME/tigris`, else `~/.cache/tigris`, in
`specs/`. `TIGRIS_NO_CACHE=1` turns it off (every load parses and validates). A cache
folder that cannot be made or written is the same as none.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TypeVar

NO_CACHE_ENV = "TIGRIS_NO_CACHE"
CACHE_DIR_ENV = "TIGRIS_CACHE_DIR"
FORMAT = "tigris-spec-cache 1"
# What a validated spec depends on besides its files: the code of these tigris packages
# (every .py under them) and modules, and the files that carry the version of pydantic
# (which pins pydantic-core's) and of PyYAML, found without importing them.
_CODE_PACKAGES = ("hardware", "workload", "io")
_CODE_MODULES = ("units.py", "errors.py")
_VERSION_FILES = (("pydantic", "version.py"), ("yaml", "__init__.py"))
_MAX_ENTRY_BYTES = 4 * 2**20  # a chip is ~4 kB pickled; a larger entry is not ours

T = TypeVar("T")


def cache_enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def cache_dir() -> Path:
    """The folder of the spec entries (not created here)."""
    given = os.environ.get(CACHE_DIR_ENV)
    if given:
        return Path(given) / "specs"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tigris" / "specs"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache  # the code does not change while a process runs
def code_fingerprint() -> str:
    """A hash of the code a validated spec depends on (see the module docstring)."""
    root = Path(__file__).resolve().parent.parent
    files = [path for package in _CODE_PACKAGES for path in _sources(root / package)]
    files += [root / module for module in _CODE_MODULES]
    for package, name in _VERSION_FILES:
        found = find_spec(package)
        if found is not None and found.origin:
            files.append(Path(found.origin).parent / name)
    digest = hashlib.sha256(f"{FORMAT}|{sys.version}".encode())
    for path in sorted(files):
        digest.update(f"|{path}|".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _sources(package: Path) -> list[Path]:
    """The .py files of a package and its subpackages (not of its data folders: the
    catalogs hold hundreds of files and no code)."""
    found = []
    for folder, subfolders, names in os.walk(package):
        subfolders[:] = [
            name for name in subfolders if (Path(folder, name, "__init__.py")).is_file()
        ]
        found += [Path(folder, name) for name in names if name.endswith(".py")]
    return found


def _file_digest(path: str) -> str | None:
    """The sha256 of a regular file's bytes, None for anything else or unreadable."""
    if not os.path.isfile(path):  # a FIFO would block the read
        return None
    try:
        with open(path, "rb") as handle:
            return _digest(handle.read())
    except OSError:
        return None


def _entry_path(key: list[str]) -> Path:
    return cache_dir() / f"{key[0]}-{_digest(json.dumps(key).encode())[:32]}.pickle"


def _read_entry(entry: Path, key: list[str]) -> object | None:
    """The value an entry holds when its digest, code and files all match, else None."""
    try:
        with open(entry, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > _MAX_ENTRY_BYTES:
                return None
            data = handle.read()
    except OSError:
        return None
    digest, _, rest = data.partition(b"\n")
    if digest.decode("ascii", "replace") != _digest(rest):
        return None
    header_text, _, payload = rest.partition(b"\n")
    header = json.loads(header_text)
    if header.get("code") != code_fingerprint() or header.get("key") != key:
        return None
    if any(_file_digest(name) != digest for name, digest in header["files"]):
        return None
    return pickle.loads(payload)  # noqa: S301 - our own entry, its digest checked


def _write_entry(entry: Path, key: list[str], value: object, files: Sequence[str]) -> None:
    """Write an entry atomically (a temporary file renamed over it); any OSError (a
    read-only home, a full disk) leaves the cache as it was."""
    digests = [(name, _file_digest(name)) for name in files]
    if any(digest is None for _, digest in digests):
        return
    header = {"key": key, "code": code_fingerprint(), "files": digests}
    rest = json.dumps(header).encode() + b"\n" + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    data = _digest(rest).encode() + b"\n" + rest
    import tempfile  # only when writing: a cached run does not load it

    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, entry)
        except OSError:
            os.unlink(temp)
            raise
    except OSError:
        return


def cached_spec(
    kind: str,
    path: str | Path,
    load: Callable[[], tuple[T, Sequence[str]]],
    *,
    variant: str = "",
) -> T:
    """The spec of `kind` that `load()` validates from the file at `path` (`variant`: what
    else it reads, a model's name), from the cache when an entry matches, else loaded and
    stored. `load` returns the spec and every file it read, `path` first (a chip and its
    `base:` chain). Errors are `load`'s own: nothing that fails is stored."""
    if not cache_enabled():
        return load()[0]
    resolved = str(Path(path).resolve())
    key = [kind, resolved, variant]
    entry = _entry_path(key)
    found = _read_entry(entry, key)
    if found is not None:
        return found  # type: ignore[return-value]
    before = _file_digest(resolved)
    value, files = load()
    if before is not None and _file_digest(resolved) == before:  # not changed while read
        _write_entry(entry, key, value, [str(Path(name).resolve()) for name in files])
    return value
