"""`tigris systolic` through a throwaway typer app (the lead wires register() into cli.py)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tigris.cli.systolic import register
from tigris.engines.systolic import compute_cycles
from tigris.errors import SpecError

KEYS = {
    "total_cycles",
    "stall_cycles",
    "utilization",
    "mapping_efficiency",
    "sram_reads_ifmap",
    "sram_reads_filter",
    "sram_writes_ofmap",
    "dram_reads_ifmap",
    "dram_reads_filter",
    "dram_writes_ofmap",
}


@pytest.fixture()
def run():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `systolic` a subcommand, as in the real app
        pass

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["systolic", *args])

    return invoke


def test_json_has_the_issue_keys(run):
    out = run("20", "13", "30", "--rows", "8", "--cols", "8", "--dataflow", "ws", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data.keys() >= KEYS
    assert "verified" not in data
    assert data["total_cycles"] == compute_cycles(20, 13, 30, 8, 8, "ws")


def test_verify_and_dtype(run):
    out = run(
        "33", "17", "40", "--rows", "4", "--cols", "8", "--dtype", "bf16", "--verify", "--json"
    )
    data = json.loads(out.output)
    assert data["verified"] is True
    assert data["input_word_bytes"] == 2 and data["output_word_bytes"] == 4


def test_sram_and_bandwidth_options_change_the_run(run):
    base = json.loads(run("256", "256", "256", "--rows", "16", "--cols", "16", "--json").output)
    tight = json.loads(
        run(
            "256", "256", "256", "--rows", "16", "--cols", "16",
            "--sram", "8 KiB", "--dram-bandwidth", "4", "--json",
        ).output
    )  # fmt: skip
    assert base["stall_cycles"] == 0 < tight["stall_cycles"]
    assert tight["dram_reads_ifmap"] > base["dram_reads_ifmap"]


def test_line_trace_and_chrome_trace_file(run, tmp_path):
    path = tmp_path / "trace.json"
    out = run("3", "3", "3", "--rows", "2", "--cols", "2", "--line-trace", "--trace", str(path))
    assert out.exit_code == 0, out.output
    assert "cycle 0 (fold 0)" in out.output
    assert "total_cycles" in out.output
    events = json.loads(path.read_text())["traceEvents"]
    assert sum(e["name"].startswith("fold") for e in events) == 4


@pytest.mark.parametrize(
    "args",
    [
        ("4", "4", "4", "--rows", "4", "--cols", "4", "--dataflow", "rs"),
        ("4", "4", "4", "--rows", "4", "--cols", "4", "--sram", "512"),
        ("4", "4", "4", "--rows", "4", "--cols", "4", "--sram", "1 GHz"),
        ("0", "4", "4", "--rows", "4", "--cols", "4"),
        ("4", "4", "4", "--rows", "0", "--cols", "4"),
        ("4", "4", "4", "--rows", "4", "--cols", "4", "--dtype", "int3"),
    ],
)
def test_bad_input_raises_spec_error(run, args):
    out = run(*args)
    assert out.exit_code != 0
    assert isinstance(out.exception, SpecError), out.exception
