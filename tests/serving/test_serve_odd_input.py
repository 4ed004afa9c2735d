"""Odd but valid serve input: traces as editors write them (a byte-order mark, CRLF line
endings), limits far above the workload."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _serve(folder, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tigris", "serve", "llama3-8b", *options, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )


RECORD = '{"arrival_s": 0, "input_len": 10, "output_len": 3}'


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("trace.csv", "\ufeffarrival_s,input_len,output_len\r\n0,10,3\r\n"),
        ("trace.jsonl", "\ufeff" + RECORD + "\r\n"),
    ],
)
def test_a_trace_with_a_byte_order_mark_is_read(tmp_path, name, text):
    trace = tmp_path / name
    trace.write_text(text, encoding="utf-8", newline="")
    before = trace.read_bytes()
    done = _serve(tmp_path, "--trace", str(trace))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert '"num_requests": 1,' in done.stdout
    assert trace.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_max_num_seqs_far_above_the_requests_runs(tmp_path):
    """--max-num-seqs 1e18 sized the simulator's arrays (an 7 EiB allocation, a traceback)."""
    done = _serve(tmp_path, "--num-requests", "20", "--max-num-seqs", str(10**18))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert '"num_requests": 20,' in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_model_config_with_a_byte_order_mark_is_read(tmp_path):
    """json.loads refuses a BOM; a config.json saved by a Windows editor is still valid."""
    from importlib import resources

    text = (
        resources.files("tigris.workload") / "catalog" / "models" / "llama3-8b.json"
    ).read_text()
    config = tmp_path / "config.json"
    config.write_text("\ufeff" + text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tigris", "infer", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
