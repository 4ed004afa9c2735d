"""A chip YAML file works wherever a chip id does: in `tigris compare` (alone, mixed with
ids, sharing its id with a preset, the catalog's own file) and in train, infer, serve,
gemm, show and explore. A bad chip file is a short error (exit 2), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.compare.chips import resolve_chips
from tigris.errors import SpecError
from tigris.hardware.presets import chip_path

TIGRIS_1 = chip_path("tigris-1").read_text()
DERIVED = """\
base: h100-sxm
id: my-h100-141
name: H100 with HBM3e
memory: {dram: {capacity: 141 GB, bandwidth: 4.8 TB/s}}
"""
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


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A verbatim copy of tigris-1.yaml, a `base:` file, and a small serving workload."""
    copy = tmp_path / "my.yaml"
    copy.write_text(TIGRIS_1)
    derived = tmp_path / "derived.yaml"
    derived.write_text(DERIVED)
    workload = tmp_path / "chat.yaml"
    workload.write_text(SMALL_SERVE)
    return {"copy": str(copy), "derived": str(derived), "workload": str(workload)}


def test_compare_a_verbatim_copy_alone(files):
    # the KeyError of issue 13: the file's id (tigris-1) was looked up as the name given
    data = ok_json(
        run_tigris("compare", "--chips", files["copy"], "--workload", files["workload"],
                   "--out", "", "--json")
    )  # fmt: skip
    label = "tigris-1 (my.yaml)"  # never taken for the preset
    assert data["chips"] == [label]
    assert data["chip_files"][label] == {
        "id": "tigris-1",
        "name": "Tigris-1 reference TPU (design)",
        "file": files["copy"],
    }
    assert data["results"]["chat"][label]["tokens_per_s_per_chip"] > 0


def test_compare_files_mixed_with_ids(files):
    catalog_b200 = str(chip_path("b200"))
    chips = ",".join(["h100-sxm", files["copy"], "tigris-1", files["derived"], catalog_b200])
    data = ok_json(
        run_tigris("compare", "--chips", chips, "--workload", files["workload"], "--out", "",
                   "--json")
    )  # fmt: skip
    labels = ["h100-sxm", "tigris-1 (my.yaml)", "tigris-1", "my-h100-141", "b200"]
    assert data["chips"] == labels
    assert list(data["results"]["chat"]) == labels
    assert data["chip_files"]["tigris-1"]["file"] is None  # the preset
    assert data["chip_files"]["b200"]["file"] is None  # the catalog's own file is the preset
    assert data["chip_files"]["my-h100-141"]["file"] == files["derived"]
    cells = data["results"]["chat"]
    assert all(cells[label]["chip_id"] == label for label in labels)
    # the copy is the same chip as the preset: same figures under two labels
    assert cells["tigris-1 (my.yaml)"]["time_s"] == cells["tigris-1"]["time_s"]
    # the derived file's own memory: more capacity than the H100 it starts from
    assert (
        cells["my-h100-141"]["memory_capacity_bytes"] > cells["h100-sxm"]["memory_capacity_bytes"]
    )


def test_labels_tell_chips_apart(tmp_path, files):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "x.yaml").write_text(DERIVED)
    (tmp_path / "y.yaml").write_text(DERIVED)
    same_id = resolve_chips([str(a / "x.yaml"), str(tmp_path / "y.yaml")])
    assert [g.label for g in same_id] == ["my-h100-141 (x.yaml)", "my-h100-141 (y.yaml)"]
    same_name = resolve_chips([str(a / "x.yaml"), str(b / "x.yaml")])
    assert [g.label for g in same_name] == [
        f"my-h100-141 ({a / 'x.yaml'})",
        f"my-h100-141 ({b / 'x.yaml'})",
    ]
    assert [g.label for g in resolve_chips([files["derived"]])] == ["my-h100-141"]
    for twice in (["h100-sxm", "h100-sxm"], ["tigris-1", str(chip_path("tigris-1"))]):
        with pytest.raises(SpecError, match="same chip") as caught:
            resolve_chips(twice)
        assert caught.value.key_path == "--chips"


def test_compare_same_chip_twice_is_a_short_error(files):
    result = run_tigris("compare", "--chips", f"{files['copy']},{files['copy']}", "--out", "")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "same chip" in result.stderr and "--chips" in result.stderr


BAD_CHIPS = {
    "missing": (None, "file not found"),
    "binary": (b"\x00\x01\x02\xff\xfe\x00", None),
    "yaml": (b"id: [\n", "YAML"),
    "unknown": (TIGRIS_1.replace("num_dies: 1", "num_dies: 1\nfoo: 3").encode(), "foo"),
    "nan": (TIGRIS_1.replace("rows: 128", "rows: .nan").encode(), None),
}


@pytest.mark.parametrize("kind", sorted(BAD_CHIPS))
def test_bad_chip_file_in_compare(tmp_path, kind):
    data, fragment = BAD_CHIPS[kind]
    path = tmp_path / "chip.yaml"
    if data is not None:
        path.write_bytes(data)
    report = tmp_path / "r.html"
    result = run_tigris("compare", "--chips", f"h100-sxm,{path}", "--out", str(report))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 3
    assert "chip.yaml" in result.stderr
    if fragment:
        assert fragment in result.stderr
    assert not report.exists()


SWEEP = """\
name: mine
base: derived.yaml
axes:
  matrix.clock: ['1.6 GHz', '1.98 GHz']
workloads:
  - {name: prefill, task: prefill, model: llama3-8b, batch: 1, prompt_len: 128}
objectives:
  - {metric: tokens_per_s, goal: max}
search: {sampler: grid, batch: 2}
"""


def _commands(files: dict[str, str], tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each command that takes a chip, run on the derived file, and its JSON key naming it."""
    chip = files["derived"]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    return {
        "show": (["show", chip], "id"),
        "gemm": (["gemm", "256", "256", "256", "--chip", chip], "chip"),
        "infer": (["infer", "llama3-8b", "--chip", chip, "--input-len", "64",
                   "--output-len", "8"], "chip"),
        "serve": (["serve", "llama3-8b", "--chip", chip, "--num-requests", "20",
                   "--input-len", "64", "--output-len", "8"], "chip"),
        "train": (["train", "llama3-8b", "--chip", chip, "--num-chips", "8", "--global-batch",
                   "8", "--seq-len", "1024", "--tp", "8", "--pp", "1", "--dp", "1"], "chip"),
        "explore": (["explore", "run", str(sweep), "--db", str(tmp_path / "s.duckdb")], "base"),
    }  # fmt: skip


@pytest.mark.parametrize("command", ["show", "gemm", "infer", "serve", "train", "explore"])
def test_chip_file_works_in_every_command(files, tmp_path, command):
    args, key = _commands(files, tmp_path)[command]
    data = ok_json(run_tigris(*args, "--json"))
    assert data[key] == "my-h100-141"


def test_workload_plan_options_are_checked_when_the_file_is_read(tmp_path):
    """An unknown or invalid `plan:` option fails before any chip is searched."""
    from tigris.compare.workloads import load_workload
    from tigris.errors import SpecError

    base = "kind: train\nmodel: llama3-8b\nnum_chips: 8\nglobal_batch: 8\nseq_len: 512\n"
    good = tmp_path / "good.yaml"
    good.write_text(base + "plan: {tp: 8, recompute: full}\n")
    assert load_workload(good).plan == {"tp": 8, "recompute": "full"}
    for plan, fragment in (("{tq: 8}", "unknown plan option 'tq'"), ("{tp: 0}", "tp")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(base + f"plan: {plan}\n")
        with pytest.raises(SpecError) as error:
            load_workload(bad)
        assert "plan" in str(error.value) and fragment in str(error.value)
