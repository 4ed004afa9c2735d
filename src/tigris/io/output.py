"""Output files written safely: whole or not at all, never over something that is not a file.

Every file a command writes (`--out`, `-o`, `--trace`, a results database's folder) goes
through here, so that a failed or interrupted command leaves nothing half-written and a
mistyped path cannot destroy what was there:

- the bytes go to a temporary file in the target's own folder, renamed over the target
  only once complete (a rename within one file system is atomic);
- only a regular file (or nothing) is replaced: a directory, a device such as /dev/full,
  a FIFO or a socket is refused with an error naming the option;
- a symbolic link is followed: its target is written and the link is kept;
- a new file gets the permissions the user's umask allows (mkstemp alone would make it
  0600), an existing file keeps its own;
- a missing parent folder is an error with a hint, or is created when the user asked
  (`--mkdir`).

Call `check_output_path` before long work, so that a bad path fails in milliseconds rather
than after the work is done; `write_output` checks again at write time.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from tigris.errors import SpecError


def _current_umask() -> int:
    """The process umask (reading it means setting it; restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _resolve_target(path: Path, option: str) -> Path:
    """The file to write: `path` itself, or what a symbolic link at `path` points to."""
    if path.is_symlink():
        try:
            return path.resolve(strict=False)
        except (OSError, RuntimeError) as error:  # a link loop
            raise SpecError(
                f"cannot follow the symbolic link: {error}", file=str(path), key_path=option
            ) from None
    return path


def _writable(target: Path, info: os.stat_result) -> bool:
    """Whether the user may write the existing file. The rename that replaces it needs only
    the folder's permission, so this is asked first; a file with no write bit at all is
    read-only even for root (who `access` says may write anything), as editors treat it."""
    return bool(info.st_mode & 0o222) and os.access(target, os.W_OK)


def check_output_path(path: str | Path, *, option: str = "--out", mkdir: bool = False) -> Path:
    """The real file a later `write_output` will replace; SpecError naming `option` if the
    path is a directory, a special file, or sits in a folder that does not exist."""
    given = Path(path)
    if str(path) == "":
        raise SpecError("empty path", key_path=option)
    if str(path).endswith(os.sep):  # Path() drops the slash: 'out/' would become a file 'out'
        raise SpecError(
            "ends with a slash, as a folder does; give a file name",
            file=str(path),
            key_path=option,
        )
    target = _resolve_target(given, option)
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise SpecError(
            f"cannot use this path: {error.strerror}", file=str(given), key_path=option
        ) from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise SpecError("is a directory; give a file name", file=str(given), key_path=option)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(
                "is not a regular file (a device, pipe or socket); refusing to replace it",
                file=str(given),
                key_path=option,
            )
        if not _writable(target, info):
            raise SpecError(
                f"is read-only (mode {stat.S_IMODE(info.st_mode):04o}); refusing to replace it",
                file=str(given),
                key_path=option,
                hint="make it writable (chmod u+w) or choose another name",
            )
    parent = target.parent
    if not parent.exists():
        if not mkdir:
            raise SpecError(
                f"folder {str(parent)!r} does not exist",
                file=str(given),
                key_path=option,
                hint="create it first, or pass --mkdir",
            )
    elif not parent.is_dir():
        raise SpecError(f"{str(parent)!r} is not a folder", file=str(given), key_path=option)
    return target


def write_output(
    path: str | Path, data: bytes | str, *, option: str = "--out", mkdir: bool = False
) -> Path:
    """Write `data` to `path` atomically (see the module notes); return the file written."""
    target = check_output_path(path, option=option, mkdir=mkdir)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if mkdir:
            target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_current_umask()
        # the name cut short: a target's name near the 255-byte limit must still leave room
        # for the temporary file's dot and random suffix (60 characters are <= 240 bytes)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:60]}.")
    except OSError as error:
        raise SpecError(
            f"cannot write here: {error.strerror}", file=str(path), key_path=option
        ) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise SpecError(
            f"cannot write the file: {error.strerror}", file=str(path), key_path=option
        ) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
