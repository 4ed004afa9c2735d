"""tigris.api.serve and tigris.api.compare: each result's to_dict() is what the command
prints with --json; chips given as ids, YAML paths or Chip objects; a bad argument is a
SpecError naming it; docs/api.md shows both (test_api.py runs its examples)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import tigris.api as t
from cli_run import run_tigris
from tigris.errors import SpecError
from tigris.hardware.presets import chip_path, load_chip

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SMALL = {"num_requests": 60, "input_len": 128, "output_len": 16}
SMALL_ARGS = ("--num-requests", "60", "--input-len", "128", "--output-len", "16")


def _cli_json(*args: str) -> dict:
    done = run_tigris(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_serve_to_dict_is_the_command_json():
    result = t.serve("llama3-8b", chip="h100-sxm", num_chips=2, scenario="server", **SMALL)
    printed = _cli_json(
        "serve", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "2",
        "--scenario", "server", "--quiet", *SMALL_ARGS,
    )  # fmt: skip
    # through JSON, as the command prints it (numpy floats become plain floats)
    assert json.loads(json.dumps(result.to_dict(), default=float)) == printed
    assert result.deployment.num_chips == 2 and result.scenario == "server"


def test_compare_to_dict_is_the_command_json():
    result = t.compare(chips=["h100-sxm", "mi300x"], workloads=["serve-8b"])
    printed = _cli_json(
        "compare", "--chips", "h100-sxm,mi300x", "--workload", "serve-8b", "--out", "", "--quiet"
    )
    assert json.loads(json.dumps(result.to_dict(), default=float)) == printed
    assert printed["report"] is None and list(printed["results"]["serve-8b"]) == [
        "h100-sxm",
        "mi300x",
    ]


def test_a_chip_as_a_yaml_path_or_an_object_is_the_same_chip(tmp_path):
    copy = tmp_path / "my-h100.yaml"
    shutil.copy(chip_path("h100-sxm"), copy)
    by_id = t.serve("llama3-8b", chip="h100-sxm", num_chips=1, **SMALL).to_dict()
    by_path = t.serve("llama3-8b", chip=copy, num_chips=1, **SMALL).to_dict()
    by_object = t.serve("llama3-8b", chip=load_chip("h100-sxm"), num_chips=1, **SMALL).to_dict()
    assert by_id == by_path == by_object


def test_compare_takes_a_chip_object():
    chip = load_chip("h100-sxm")
    result = t.compare(chips=[chip], workloads=["serve-8b"], workers=1)
    assert result.comparison.chips == ("h100-sxm",)
    assert result.to_dict()["chip_files"]["h100-sxm"]["file"] is None


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (
            lambda: t.serve("llama3-8b", chip="h100-sxm", num_chips=1, scenario="batch"),
            "--scenario",
        ),
        (lambda: t.serve("llama3-8b", chip="h100-sxm", num_chips=1, rate_per_s=-1.0), "--rate"),
        (lambda: t.serve("llama3-8b", chip=3, num_chips=1), "--chip"),
        (lambda: t.serve("llama3-8b", chip="h900", num_chips=1), "h900"),
        (lambda: t.compare(chips="", workloads=["serve-8b"]), "--chips"),
        (lambda: t.compare(chips=["h100-sxm"], workloads=["serve-9b"]), "--workload"),
        (lambda: t.compare(chips=[object()], workloads=["serve-8b"]), "--chips"),
        (lambda: t.compare(overrides=["operations.pue=0.5"]), "operations.pue"),
    ],
)
def test_a_bad_argument_is_a_spec_error_naming_it(call, named):
    with pytest.raises(SpecError) as caught:
        call()
    assert named in caught.value.render()


def _doc_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_doc_has_an_example_of_each():
    """docs/api.md shows serve and compare (tests/api/test_api.py runs every example)."""
    examples = _doc_examples()
    assert any("t.serve(" in example for example in examples)
    assert any("t.compare(" in example for example in examples)
