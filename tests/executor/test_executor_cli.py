"""tigris compile / run / asm / disasm end to end, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def tigris(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
