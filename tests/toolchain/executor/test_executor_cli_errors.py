"""Bad input to tigris compile / run / asm / disasm: exit 2, one or two lines naming the
option or file, no traceback, nothing written. The CLI runs in a subprocess, as a user runs
it; these programs are hand-written and tiny, so each call takes about a second."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cli_run import assert_user_error, run_tigris
from tigris.toolchain.executor.files import encode_image

TINY = (
    ".program tiny\n.chip tigris-1\n.mode bf16\n.hbm 256\n"
    ".input ids 0x00000000 i32 [4,1]\n.output ids 0x00000000 i32 [4,1]\n"
    "c0 dma.wait tag=1\n"
)


def tigris(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_tigris(*args, cwd=cwd)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tiny.tasm").write_text(TINY)
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


BEFORE = ["adir", "fifo", "tiny.tasm"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        # bad outputs are refused before compiling: the model name is never looked at
        (("compile", "nonesuch", "-o", "gone/p.tasm"), ("-o", "gone", "--mkdir")),
        (("compile", "gpt2-tiny", "-o", "adir"), ("-o", "directory")),
        (("compile", "gpt2-tiny", "-o", "fifo"), ("-o", "not a regular file")),
        (("asm", "tiny.tasm", "-o", "fifo"), ("-o", "not a regular file")),
        (("asm", "tiny.tasm", "-o", "gone/p.tbin"), ("-o", "--mkdir")),
        (("disasm", "tiny.tasm", "-o", "adir"), ("-o", "directory")),
        (("run", "tiny.tasm", "--trace", "gone/t.json"), ("--trace", "--mkdir")),
        (("run", "tiny.tasm", "--trace", "fifo"), ("--trace", "not a regular file")),
        # bad options and inputs
        (("compile", "gpt2-tiny", "--dtype", "fp4", "-o", "p.tasm"), ("--dtype", "fp4")),
        (("run", "gpt2-tiny", "--dtype", "int4"), ("--dtype", "int4")),
        (("compile", "gpt9-huge", "-o", "p.tasm"), ("gpt9-huge", "gpt2-tiny")),
        (("run", "gpt2-tiny", "--input", "missing.txt"), ("--input", "missing.txt")),
        (("run", "gpt2-tiny", "--input", "adir"), ("--input", "directory")),
        (("run", "gpt2-tiny", "--input", "tiny.tasm"), ("--input", "token ids")),
        (("run", "nope.tasm"), ("nope.tasm", "no such")),
        (("run", "adir/x.tbin"), ("x.tbin",)),
    ],
)
def test_bad_paths_and_options(folder: Path, args: tuple[str, ...], fragments) -> None:
    assert_user_error(tigris(*args, cwd=folder), *fragments)
    assert listing(folder) == BEFORE


def test_mkdir_creates_the_folders(folder: Path) -> None:
    assert tigris("asm", "tiny.tasm", "-o", "a/b/t.tbin", "--mkdir", cwd=folder).returncode == 0
    done = tigris("disasm", "a/b/t.tbin", "-o", "c/t.tasm", "--mkdir", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "c/t.tasm").read_text() == TINY
    done = tigris("run", "c/t.tasm", "--trace", "d/t.json", "--mkdir", cwd=folder)
    assert done.returncode == 0 and (folder / "d/t.json").exists()


def write_ids(folder: Path, name: str, array: np.ndarray) -> str:
    np.save(folder / name, array)
    return name


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda f: write_ids(f, "f.npy", np.ones(4, np.float32)), ("--input", "float32")),
        (lambda f: write_ids(f, "c.npy", np.ones((2, 2, 2), np.int32)), ("--input", "shape")),
        (lambda f: write_ids(f, "v.npy", np.array([1, 2, 9999])), ("--input", "9999", "[0, 512)")),
        (lambda f: (f / "g.npy").write_bytes(b"\x93NUMPYgarbage") and "g.npy", ("--input", ".npy")),
        (lambda f: (f / "l.txt").write_text("1 " * 300) and "l.txt", ("300 tokens", "256")),
        (lambda f: (f / "e.txt").write_text("\n\n") and "e.txt", ("--input", "no token ids")),
    ],
)
def test_bad_input_files_for_a_model(folder: Path, make, fragments) -> None:
    name = make(folder)
    assert_user_error(tigris("run", "gpt2-tiny", "--input", name, cwd=folder), *fragments)


def test_input_of_the_wrong_length_for_a_program(folder: Path) -> None:
    (folder / "ids.txt").write_text("1 2 3\n")
    assert_user_error(
        tigris("run", "tiny.tasm", "--input", "ids.txt", cwd=folder), "3 token ids", "4"
    )


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("c70000 dma.wait tag=1", ("line 8", "core 70000", "32767")),
        ("c0 dma.wait tag=99999999999999999999", ("line 8", "tag")),
        ("c0 sram.alloc base=0 size=@0x0:f32[1,1]", ("line 8", "integer")),
        ("c0 v.copy dst=@0x100000000:f32[1,1] a=@0x0:f32[1,1]", ("line 8", "addr")),
        ("c0 v.frob x=1", ("line 8", "unknown opcode")),
        (".hbm 999999999999999", ("HBM capacity",)),
        (".hbm 5000000000", ("4 GiB",)),
        (".segment w 0x00000000 99999", ("image",)),
        (".mode bf8", ("bf8",)),
    ],
)
def test_bad_assembly_is_refused_by_asm_and_run(folder: Path, line: str, fragments) -> None:
    text = TINY + line + "\n" if not line.startswith(".hbm") else TINY.replace(".hbm 256", line)
    if line.startswith(".mode"):
        text = TINY.replace(".mode bf16", line)
    (folder / "bad.tasm").write_text(text)
    done = tigris("run", "bad.tasm", cwd=folder)
    assert_user_error(done, "bad.tasm", *fragments)


def test_segment_outside_hbm_is_refused(folder: Path) -> None:
    (folder / "seg.tasm").write_text(TINY + ".segment w 0x00000100 64\n")
    (folder / "seg.tasm.img").write_bytes(encode_image({"w": bytes(64)}))
    assert_user_error(tigris("run", "seg.tasm", cwd=folder), "segment w", "outside")


def test_truncated_and_garbled_binaries(folder: Path) -> None:
    assert tigris("asm", "tiny.tasm", "-o", "t.tbin", cwd=folder).returncode == 0
    data = (folder / "t.tbin").read_bytes()
    (folder / "cut.tbin").write_bytes(data[:-5])
    (folder / "head.tbin").write_bytes(data[:12])
    (folder / "junk.tbin").write_bytes(data[:10] + b"\xff" * 40 + data[50:])
    (folder / "tail.tbin").write_bytes(data + b"xx")
    for name, words in [
        ("cut.tbin", "cut short"),
        ("head.tbin", "cut short"),
        ("junk.tbin", "corrupt"),
        ("tail.tbin", "trailing"),
    ]:
        assert_user_error(tigris("run", name, cwd=folder), name, words)
        assert_user_error(tigris("disasm", name, cwd=folder), name, words)


def test_an_id_outside_the_vocabulary_names_the_table(tmp_path: Path) -> None:
    assert tigris("compile", "gpt2-tiny", "-o", "p.tbin", cwd=tmp_path).returncode == 0
    (tmp_path / "ids.txt").write_text(" ".join(["7"] * 47 + ["4000"]) + "\n")
    done = tigris("run", "p.tbin", "--input", "ids.txt", cwd=tmp_path)
    assert_user_error(done, "p.tbin", "dma.gather", "row 4000", "embed.tokens", "512 rows")
