"""`tigris compare` as a user runs it: options, JSON, workload files, assumption overrides,
and bad input (exit 2, a short message naming the key)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.api.comparison import load_cost_assumptions
from tigris.compare.runner import evaluate_cell, run_comparison
from tigris.compare.workloads import ServeWorkload, load_workload, resolve_workload
from tigris.cost import default_assumptions_path
from tigris.errors import SpecError
from tigris.hardware.presets import load_chip

SERVE_YAML = """\
kind: serve
model: llama3-8b
num_chips: 1
input_len: 256
output_len: 32
slo_ttft: 1 s
slo_tpot: 50 ms
"""

CHAT = ServeWorkload(
    name="chat",
    model="llama3-8b",
    num_chips=1,
    input_len=256,
    output_len=32,
    slo_ttft=1.0,
    slo_tpot=0.05,
)


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def serve_file(tmp_path: Path) -> str:
    path = tmp_path / "chat.yaml"
    path.write_text(SERVE_YAML)
    return str(path)


def test_workload_file_reads_units(serve_file):
    workload = load_workload(serve_file)
    assert workload == CHAT


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SERVE_YAML.replace("slo_tpot: 50 ms", "slo_tpot: 50"), "slo_tpot"),
        (SERVE_YAML.replace("kind: serve", "kind: sing"), "kind"),
        (SERVE_YAML.replace("input_len: 256", "input_len: -1"), "input_len"),
        (SERVE_YAML + "batchsize: 3\n", "batchsize"),
    ],
)
def test_bad_workload_file_names_the_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_workload(path)
    assert caught.value.key_path == key


def test_json_with_chips_and_workload_file(serve_file, tmp_path):
    out = tmp_path / "r.html"
    args = ("compare", "--chips", "h100-sxm", "--chips", "maia-200", "--workload", serve_file)
    result = run_tigris(*args, "--out", str(out), "--json", "--set", "operations.pue=1.5")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["chips"] == ["h100-sxm", "maia-200"] and out.is_file()
    assert data["report"] == str(out)
    cells = data["results"]["chat"]
    assert cells["maia-200"]["reason"] == "maia-200 has no bf16 matrix path"
    assert cells["h100-sxm"]["reason"] is None and cells["h100-sxm"]["usd_per_million_tokens"] > 0
    values = {row["key"]: row["value"] for row in data["assumptions"]}
    assert values["operations.pue"] == 1.5 and "fab.wafer_price_usd" in values
    assert "maia-200 has no bf16 matrix path" in out.read_text()


def _usd_per_million(assumptions) -> float:
    cell = evaluate_cell(load_chip("h100-sxm"), CHAT, assumptions)
    return cell.usd_per_million_tokens


def test_override_and_assumptions_file_change_the_price(tmp_path):
    base = load_cost_assumptions(None, [])
    pue = base.operations.pue
    high = load_cost_assumptions(None, [f"operations.pue={2 * pue}"])
    assert high.operations.pue == 2 * pue
    assert _usd_per_million(high) > _usd_per_million(base)
    copy = tmp_path / "assumptions.yaml"
    text = default_assumptions_path().read_text()
    assert f"pue: {pue:.2f}" in text
    copy.write_text(text.replace(f"pue: {pue:.2f}", f"pue: {2 * pue}"))
    from_file = load_cost_assumptions(str(copy), [])
    assert _usd_per_million(from_file) == pytest.approx(_usd_per_million(high))


def test_missing_assumptions_file(tmp_path):
    user_error(
        run_tigris("compare", "--assumptions", str(tmp_path / "nope.yaml")),
        "nope.yaml",
        "--assumptions",
        "file not found",
    )


def test_malformed_assumptions_file(tmp_path):
    bad = tmp_path / "a.yaml"
    bad.write_text(default_assumptions_path().read_text().replace("pue:", "pue: [", 1))
    with pytest.raises(SpecError, match="not valid YAML") as caught:
        load_cost_assumptions(str(bad), [])
    assert caught.value.file == str(bad)
    wrong = tmp_path / "b.yaml"
    text = default_assumptions_path().read_text()
    wrong.write_text(text.replace("  pue:", "  pue: 0.5\n  old_pue:", 1))
    with pytest.raises(SpecError) as caught:
        load_cost_assumptions(str(wrong), [])
    assert caught.value.key_path.startswith("operations.")


def test_bad_override_names_the_key():
    user_error(run_tigris("compare", "--set", "operations.puee=1.2"), "operations.puee")
    with pytest.raises(SpecError) as caught:
        load_cost_assumptions(None, ["operations.pue=0.5"])
    assert caught.value.key_path == "operations.pue"


def test_unknown_chip_and_workload():
    with pytest.raises(SpecError, match="h900"):
        run_comparison(["h900"], [CHAT], load_cost_assumptions(None, []))
    with pytest.raises(SpecError) as caught:
        resolve_workload("serve-1t")
    assert caught.value.key_path == "--workload"
