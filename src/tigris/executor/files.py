"""Program files: assembly text (.tasm), binary (.tbin), the constant image beside a
program (PROG.tasm.img, a numpy .npz of segment bytes), and atomic writes (a temporary
file renamed into place, so a failed command never leaves a partial output)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.isa import Program, decode_program, format_program, parse_program


def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def image_path(program_path: Path) -> Path:
    return Path(f"{program_path}.img")


def encode_image(image: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.frombuffer(data, dtype=np.uint8) for name, data in image.items()})
    return buffer.getvalue()


def read_image(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    with np.load(path) as archive:
        return {name: archive[name].tobytes() for name in archive.files}


def read_program(path: Path) -> Program:
    """A .tasm (text) or .tbin (binary) program; SpecError if unreadable."""
    path = Path(path)
    if not path.exists():
        raise SpecError("no such file", file=str(path))
    data = path.read_bytes()
    if data[:4] == b"TGRS":
        return decode_program(data, file=str(path))
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SpecError("neither assembly text nor a Tigris binary", file=str(path)) from None
    return parse_program(text, file=str(path))


def program_text(program: Program) -> bytes:
    return format_program(program).encode()
