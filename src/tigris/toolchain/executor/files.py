"""Program files: assembly text (.tasm), binary (.tbin), and the constant image (weights,
scales, tables: the bytes of each segment).

Where the image lives:
- beside assembly as PROG.tasm.img (a numpy .npz of segment bytes);
- inside a binary: `tigris asm` appends it to the .tbin (`tigris.toolchain.isa.binary`), so one file
  is a complete program; a binary without one looks for PROG.tbin.img, then PROG.tasm.img.
A program whose segments have no image is refused naming the file looked for and the
segment. Every output goes through `tigris.io.output.write_output` (atomic, regular files
only, `--mkdir`).
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.io.output import check_output_path, write_output
from tigris.toolchain.isa import Program, format_program, parse_program
from tigris.toolchain.isa.binary import MAGIC, check_image, decode_binary, encode_program

IMAGE_HINT = (
    "`tigris compile` writes the image beside the assembly as PROG.tasm.img and `tigris asm` "
    "embeds it in the .tbin; keep it beside the program or pass --image FILE"
)


def image_path(program_path: str | Path) -> Path:
    """Where the image of an assembly (or image-less binary) program lives: PROG.img."""
    return Path(f"{program_path}.img")


def is_binary_path(path: str | Path) -> bool:
    return Path(path).suffix == ".tbin"


def encode_image(image: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.frombuffer(data, dtype=np.uint8) for name, data in image.items()})
    return buffer.getvalue()


def read_input_bytes(path: str | Path, *, what: str, option: str | None = None) -> bytes:
    """The bytes of an input file; SpecError if it is missing, a directory or unreadable."""
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise SpecError(f"is a directory; expected: {what}", file=str(path), key_path=option)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(
                f"is not a regular file (a device, pipe or socket); expected: {what}",
                file=str(path),
                key_path=option,
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"no such {what}", file=str(path), key_path=option) from None
    except OSError as error:
        raise SpecError(
            f"cannot read the {what}: {error.strerror}", file=str(path), key_path=option
        ) from None


def read_image(path: str | Path) -> dict[str, bytes]:
    """The segments of an image file (.npz of uint8 arrays); SpecError if unreadable."""
    data = read_input_bytes(path, what="image file", option="image")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {name: np.ascontiguousarray(archive[name]).tobytes() for name in archive.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, AttributeError) as error:
        raise SpecError(
            f"not a program image (an .npz of segment bytes): {error}",
            file=str(path),
            key_path="image",
        ) from None


def read_program_file(path: str | Path) -> tuple[Program, dict[str, bytes] | None]:
    """A .tasm (text) or .tbin (binary) program and the image a binary carries (None for
    text, or a binary without one); SpecError if unreadable."""
    data = read_input_bytes(path, what="program")
    if data[:4] == MAGIC:
        return decode_binary(data, file=str(path))
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SpecError("neither assembly text nor a Tigris binary", file=str(path)) from None
    return parse_program(text, file=str(path)), None


def read_program(path: str | Path) -> Program:
    """A .tasm or .tbin program (without its image)."""
    return read_program_file(path)[0]


@dataclass(frozen=True)
class LoadedProgram:
    program: Program
    image: dict[str, bytes]
    image_source: str  # "embedded", a file name, or "none" (no segments)


def _candidates(path: Path) -> list[Path]:
    found = [image_path(path)]
    if is_binary_path(path):
        found.append(image_path(path.with_suffix(".tasm")))
    return found


def find_image(
    path: str | Path,
    program: Program,
    embedded: dict[str, bytes] | None,
    image_file: str | Path | None = None,
) -> tuple[dict[str, bytes] | None, str]:
    """The image of the program read from `path`: `image_file` if given, else the one a
    binary carries, else the file beside the program; and where it came from (or, when
    none is found, the files looked for). The image found is checked against the
    program's segments."""
    if image_file is not None:
        image = read_image(image_file)
        check_image(program, image, file=str(image_file))
        return image, str(image_file)
    if embedded is not None:
        return embedded, "embedded"
    if not program.segments:
        return {}, "none"
    candidates = _candidates(Path(path))
    for candidate in candidates:
        if candidate.exists():
            image = read_image(candidate)
            check_image(program, image, file=str(candidate))
            return image, str(candidate)
    return None, " and ".join(str(c) for c in candidates)


def missing_image(path: str | Path, program: Program, looked: str) -> SpecError:
    first = program.segments[0]
    return SpecError(
        f"the program uses {len(program.segments)} constant segment(s) (first {first.name!r}, "
        f"{first.nbytes} bytes) and no image was found (looked for {looked})",
        file=str(path),
        key_path="image",
        hint=IMAGE_HINT,
    )


def load_program(path: str | Path, image_file: str | Path | None = None) -> LoadedProgram:
    """A program and its image (see `find_image`). SpecError naming the file looked for and
    the first segment when the program has segments and no image is found, or when the
    image lacks a segment or sizes one differently."""
    program, embedded = read_program_file(path)
    image, source = find_image(path, program, embedded, image_file)
    if image is None:
        raise missing_image(path, program, source)
    return LoadedProgram(program, image, source)


def program_text(program: Program) -> bytes:
    return format_program(program).encode()


def check_program_output(
    path: str | Path, *, option: str, mkdir: bool, binary: bool, image: bool
) -> None:
    """Fail fast (before any work) if `write_program` could not write `path` (and, for
    assembly with an image, PROG.img beside it)."""
    check_output_path(path, option=option, mkdir=mkdir)
    if image and not binary:
        check_output_path(image_path(path), option=option, mkdir=mkdir)


def write_program(
    path: str | Path,
    program: Program,
    image: dict[str, bytes] | None,
    *,
    binary: bool,
    option: str = "-o",
    mkdir: bool = False,
) -> list[Path]:
    """Write `program` as a binary with its image inside (`binary`) or as assembly with the
    image beside it (PATH.img, written first, only when the program has segments); return
    the files written."""
    image = image if program.segments else None
    if image is not None:
        check_image(program, image)
    if binary:
        return [write_output(path, encode_program(program, image), option=option, mkdir=mkdir)]
    written = []
    if image is not None:
        written.append(
            write_output(image_path(path), encode_image(image), option=option, mkdir=mkdir)
        )
    written.append(write_output(path, program_text(program), option=option, mkdir=mkdir))
    return written
