"""tigris compile / run / asm / disasm end to end, and their errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_run import assert_user_error, run_tigris


def tigris(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_tigris(*args, cwd=cwd)


def test_compile_run_asm_disasm(tmp_path: Path) -> None:
    done = tigris(
        "compile",
        "gpt2-tiny",
        "--chip",
        "tigris-1",
        "--dtype",
        "int8",
        "-o",
        "prog.tasm",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "prog.tasm.img").exists()
    run = tigris(
        "run", "prog.tasm", "--chip", "tigris-1", "--json", "--trace", "t.json", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["cycles"] > 0 and report["instructions"] > 0 and report["time_s"] > 0
    assert set(report["utilization"]) >= {"dma", "mxu", "vpu"}
    assert len(report["digest"]) == 64
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert any(e.get("ph") == "X" and e["name"] == "mxu.mm" for e in events)
    direct = tigris("run", "gpt2-tiny", "--dtype", "int8", "--json", cwd=tmp_path)
    assert json.loads(direct.stdout)["cycles"] == report["cycles"]
    assert tigris("asm", "prog.tasm", "-o", "prog.tbin", cwd=tmp_path).returncode == 0
    assert tigris("disasm", "prog.tbin", "-o", "back.tasm", cwd=tmp_path).returncode == 0
    assert (tmp_path / "back.tasm").read_text() == (tmp_path / "prog.tasm").read_text()


def test_bad_assembly_names_the_line_and_leaves_no_output(tmp_path: Path) -> None:
    (tmp_path / "bad.tasm").write_text(
        ".program p\n.chip tigris-1\n.mode bf16\n.hbm 64\nc0 v.add dst=@0x0:f32[1,1]\n"
    )
    done = tigris("asm", "bad.tasm", "-o", "out.tbin", cwd=tmp_path)
    assert done.returncode == 2
    assert "line 5" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tasm"]


def test_unknown_model_exits_2_without_output(tmp_path: Path) -> None:
    done = tigris("compile", "nonesuch", "-o", "p.tasm", cwd=tmp_path)
    assert done.returncode == 2 and "nonesuch" in done.stderr
    assert list(tmp_path.iterdir()) == []


def digest_of(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["digest"]


def test_compile_asm_run_round_trip_keeps_the_image(tmp_path: Path) -> None:
    """compile -> asm -> run gives the digest of running the assembly; the .tbin carries
    the image (it runs alone in another folder); disasm gives back text and image."""
    assert tigris("compile", "gpt2-tiny", "-o", "p.tasm", cwd=tmp_path).returncode == 0
    from_text = digest_of(tigris("run", "p.tasm", "--json", cwd=tmp_path))
    assert tigris("asm", "p.tasm", "-o", "p.tbin", cwd=tmp_path).returncode == 0
    alone = tmp_path / "alone"
    alone.mkdir()
    (tmp_path / "p.tbin").rename(alone / "p.tbin")
    assert digest_of(tigris("run", "p.tbin", "--json", cwd=alone)) == from_text
    assert tigris("disasm", "p.tbin", "-o", "back.tasm", cwd=alone).returncode == 0
    assert (alone / "back.tasm").read_bytes() == (tmp_path / "p.tasm").read_bytes()
    assert (alone / "back.tasm.img").read_bytes() == (tmp_path / "p.tasm.img").read_bytes()
    assert tigris("compile", "gpt2-tiny", "-o", "direct.tbin", cwd=tmp_path).returncode == 0
    assert digest_of(tigris("run", "direct.tbin", "--json", cwd=tmp_path)) == from_text


def test_a_program_without_its_image_names_the_file_and_segment(tmp_path: Path) -> None:
    assert tigris("compile", "gpt2-tiny", "-o", "p.tasm", cwd=tmp_path).returncode == 0
    (tmp_path / "p.tasm.img").rename(tmp_path / "kept.img")
    assert_user_error(tigris("run", "p.tasm", cwd=tmp_path), "p.tasm.img", "'embed.tokens'")
    done = tigris("asm", "p.tasm", "-o", "p.tbin", cwd=tmp_path)
    assert done.returncode == 0 and "carries no image" in done.stderr
    assert_user_error(tigris("run", "p.tbin", cwd=tmp_path), "p.tbin.img", "'embed.tokens'")
    assert tigris("run", "p.tbin", "--image", "kept.img", cwd=tmp_path).returncode == 0
