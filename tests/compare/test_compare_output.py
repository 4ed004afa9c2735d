"""What `tigris compare` shows and writes: tables that fit an 80-column terminal without
cutting a number (`--wide` for every column), the capex basis each chip used, the report
written by the one output writer (bad `--out` paths fail before any work), and progress."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tigris.compare.runner import run_comparison
from tigris.compare.workloads import ServeWorkload
from tigris.cost import load_assumptions
from tigris.units import format_quantity

SMALL_SERVE = """\
kind: serve
name: chat
model: llama3-8b
num_chips: 1
input_len: 128
output_len: 16
slo_ttft: 2 s
slo_tpot: 200 ms
"""


def run_tigris(*args: str, columns: int | None = None, umask: int | None = None):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


@pytest.fixture
def chat(tmp_path: Path) -> str:
    path = tmp_path / "chat.yaml"
    path.write_text(SMALL_SERVE)
    return str(path)


# ---------------------------------------------------------------- width


def _usd(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:.3g}"


def _shown_numbers(cell: dict) -> dict[str, str]:
    """The numbers of a serving row, as the table formats them, by column."""
    return {
        "TTFT": format_quantity(cell["ttft_s"], "time", 3),
        "TPOT": format_quantity(cell["time_s"], "time", 3),
        "tokens/s per chip": f"{cell['tokens_per_s_per_chip']:,.0f}",
        "MFU": f"{100 * cell['mfu']:.1f}%",
        "$/M tokens": _usd(cell["usd_per_million_tokens"]),
        "J/token": format_quantity(cell["energy_per_token_j"], "energy", 3),
        "power per chip": format_quantity(cell["power_w_per_chip"], "power", 3),
    }


def _dropped(text: str) -> list[str]:
    flat = " ".join(text.split())
    found = re.findall(r"not shown, the terminal is too narrow: (.*?); --wide", flat)
    return [header for line in found for header in line.split(", ")]


def test_80_columns_show_every_number_whole():
    args = ("compare", "--workload", "serve-8b", "--chips", "h100-sxm,tigris-1", "--out", "")
    data = json.loads(run_tigris(*args, "--json", "-q").stdout)
    result = run_tigris(*args, "-q", columns=80)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    dropped = _dropped(text)
    assert dropped and "$/M tokens" not in dropped  # the narrow layout drops, never cuts
    shown = 0
    for chip, cell in data["results"]["serve-8b"].items():
        assert chip in text
        for header, number in _shown_numbers(cell).items():
            if header not in dropped:
                assert number in text, (header, number)
                shown += 1
    assert shown >= 8
    wide = run_tigris(*args, "-q", "--wide", columns=80)
    assert "not shown" not in wide.stdout
    for cell in data["results"]["serve-8b"].values():
        for number in _shown_numbers(cell).values():
            assert number in wide.stdout


def test_pipe_without_columns_shows_every_column(chat):
    result = run_tigris("compare", "--chips", "h100-sxm", "--workload", chat, "--out", "", "-q")
    assert result.returncode == 0, result.stderr
    assert "not shown" not in result.stdout and "power per chip" in result.stdout


def test_train_infer_serve_tables_keep_numbers_whole():
    train = ("train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8",
             "--global-batch", "8", "--seq-len", "1024")  # fmt: skip
    data = json.loads(run_tigris(*train, "--json").stdout)
    text = run_tigris(*train, columns=50).stdout
    for row in data["top"]:
        assert f"{100 * row['mfu']:.1f}%" in text and f"{row['step_time_s']:.4f} s" in text
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 50
    infer = ("infer", "llama3-8b", "--input-len", "64", "--output-len", "8")
    data = json.loads(run_tigris(*infer, "--json").stdout)
    text = run_tigris(*infer, columns=40).stdout
    assert max(len(line) for line in text.splitlines()) <= 40
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        assert format_quantity(data[key], "time") in text
    serve = ("serve", "llama3-8b", "--num-requests", "20", "--input-len", "64",
             "--output-len", "8")  # fmt: skip
    data = json.loads(run_tigris(*serve, "--json").stdout)
    text = run_tigris(*serve, columns=40).stdout
    assert max(len(line) for line in text.splitlines()) <= 40
    assert f"{data['throughput_tokens_per_s']:.4g}" in text


# ---------------------------------------------------------------- capex basis


def test_purchase_basis_names_the_chips_that_fell_back(chat, tmp_path):
    report = tmp_path / "r.html"
    args = ("compare", "--chips", "h100-sxm,b200", "--workload", chat,
            "--set", "package.capex_basis=purchase")  # fmt: skip
    result = run_tigris(*args, "--out", str(report), "--json", "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["capex_fallback"] == ["b200"]
    estimates = data["chip_estimates"]
    assert estimates["h100-sxm"]["capex_basis"] == "purchase"
    assert estimates["h100-sxm"]["capex_usd"] == 30000
    assert estimates["b200"]["capex_basis"] == "manufacturing"
    assert estimates["b200"]["capex_fallback"] is True
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "b200" in notes[0] and "purchase" in notes[0]
    assert "package.chip_price_usd" in notes[0]
    page = " ".join(report.read_text().split())
    assert "b200 have no reported price" in page
    text = run_tigris(*args, "--out", "", "-q", "--wide").stdout
    assert "(purchase)" in text and "(mfg)" in text and "manufacturing (no price)" in text
    priced = run_tigris(*args, "--set", "package.chip_price_usd.b200=40000", "--out", "",
                        "--json", "-q")  # fmt: skip
    assert json.loads(priced.stdout)["capex_fallback"] == []
    assert "note:" not in priced.stderr


def test_default_basis_has_no_note(chat):
    result = run_tigris("compare", "--chips", "h100-sxm,b200", "--workload", chat, "--out", "",
                        "--json", "-q")  # fmt: skip
    data = json.loads(result.stdout)
    assert data["capex_fallback"] == [] and result.stderr == ""
    assert {e["capex_basis"] for e in data["chip_estimates"].values()} == {"manufacturing"}


# ---------------------------------------------------------------- --out


def _fails_at_once(tmp_path: Path, out: str, *fragments: str) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    started = time.perf_counter()
    result = run_tigris("compare", "--out", out)  # the default comparison takes seconds
    elapsed = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "--out" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    for fragment in fragments:
        assert fragment in result.stderr
    assert elapsed < 4, elapsed  # checked before the comparison, not after
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_out_fifo_directory_missing_folder(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _fails_at_once(tmp_path, str(fifo), "not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    folder = tmp_path / "folder"
    folder.mkdir()
    _fails_at_once(tmp_path, str(folder), "directory")
    assert list(folder.iterdir()) == []
    _fails_at_once(tmp_path, str(tmp_path / "missing" / "r.html"), "does not exist", "--mkdir")


def test_out_symlink_mode_and_mkdir(chat, tmp_path):
    target = tmp_path / "target.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    args = ("compare", "--chips", "h100-sxm", "--workload", chat, "-q")
    result = run_tigris(*args, "--out", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and target.read_text().startswith("<!DOCTYPE html>")
    fresh = tmp_path / "new" / "deeper" / "r.html"
    result = run_tigris(*args, "--out", str(fresh), "--mkdir", umask=0o022)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["r.html"]  # no temporary left


def test_out_read_only_file_and_trailing_slash_refused(tmp_path):
    kept = tmp_path / "kept.html"
    kept.write_text("mine")
    kept.chmod(0o444)  # refused even for root, whom the replacing rename would let through
    _fails_at_once(tmp_path, str(kept), "read-only", "0444")
    assert kept.read_text() == "mine" and stat.S_IMODE(kept.stat().st_mode) == 0o444
    _fails_at_once(tmp_path, str(tmp_path / "r.html") + "/", "slash")  # was written as r.html


def test_out_name_near_the_length_limit_is_written(chat, tmp_path):
    out = tmp_path / ("r" * 250)  # the temporary's name once went past 255 bytes
    args = ("compare", "--chips", "h100-sxm", "--workload", chat, "-q", "--out", str(out))
    result = run_tigris(*args)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["chat.yaml", out.name])


# ---------------------------------------------------------------- progress


def test_progress_counts_every_cell():
    chat = ServeWorkload(name="chat", model="llama3-8b", num_chips=1, input_len=128,
                         output_len=16)  # fmt: skip
    assumptions = load_assumptions()
    for workers in (1, 2):
        calls: list[tuple[int, int]] = []
        run_comparison(
            ["h100-sxm", "tigris-1"],
            [chat],
            assumptions,
            workers=workers,
            progress=lambda done, total, calls=calls: calls.append((done, total)),
        )
        assert calls[0] == (0, 2) and calls[-1] == (2, 2)
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_quiet_keeps_stderr_empty(chat):
    result = run_tigris("compare", "--chips", "h100-sxm", "--workload", chat, "--out", "",
                        "--quiet")  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""


def test_serve_on_a_huge_deployment_ends_in_seconds(tmp_path):
    huge = tmp_path / "huge.yaml"  # tp was tried over every number up to num_chips (minutes)
    huge.write_text(SMALL_SERVE.replace("num_chips: 1", "num_chips: 2147483646"))
    started = time.perf_counter()
    result = run_tigris("compare", "--chips", "h100-sxm", "--workload", str(huge), "--out", "",
                        "--json", "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 30
    assert json.loads(result.stdout)["results"]["chat"]["h100-sxm"]["plan"]["tp"] >= 1
