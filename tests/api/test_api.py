"""tigris.api.gemm, train and infer: each result's to_dict() is what the command prints with
--json (chips given as ids, YAML paths or Chip objects); every python example of
docs/api.md runs; a bad argument is a SpecError naming it."""

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
TRAIN = {"num_chips": 8, "global_batch": 64, "seq_len": 4096}
TRAIN_ARGS = ("--num-chips", "8", "--global-batch", "64", "--seq-len", "4096")
FIXED = {"tp": 2, "pp": 1, "dp": 4}  # one layout: the search is a handful of plans
FIXED_ARGS = ("--tp", "2", "--pp", "1", "--dp", "4")


def _cli_json(*args: str) -> dict:
    done = run_tigris(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _plain(result) -> dict:
    """The result's dict through JSON, as the command prints it."""
    return json.loads(json.dumps(result.to_dict(), default=float))


def test_train_to_dict_is_the_command_json():
    """The issue's acceptance example."""
    result = t.train("llama3-8b", chip="h100-sxm", **TRAIN)
    printed = _cli_json("train", "llama3-8b", "--chip", "h100-sxm", *TRAIN_ARGS)
    assert _plain(result) == printed
    assert result.best.step_time_s == printed["step_time_s"] > 0


def test_train_with_a_chip_yaml_path(tmp_path: Path):
    path = tmp_path / "my-h100.yaml"
    shutil.copy(chip_path("h100-sxm"), path)
    result = t.train("llama3-8b", chip=path, tokens=1e12, **TRAIN, **FIXED)
    printed = _cli_json(
        "train", "llama3-8b", "--chip", str(path), "--tokens", "1e12", *TRAIN_ARGS, *FIXED_ARGS
    )
    assert _plain(result) == printed
    assert printed["plan"]["tp"] == 2 and printed["time_to_train_s"] > 0


def test_train_with_a_chip_object_equals_its_id():
    by_object = t.train("llama3-8b", chip=load_chip("h100-sxm"), **TRAIN, **FIXED)
    printed = _cli_json("train", "llama3-8b", "--chip", "h100-sxm", *TRAIN_ARGS, *FIXED_ARGS)
    assert _plain(by_object) == printed


def test_infer_to_dict_is_the_command_json():
    result = t.infer(
        "llama3-8b", chip="h100-sxm", num_chips=2, batch=8, input_len=512, output_len=64
    )
    printed = _cli_json(
        "infer", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "2", "--batch", "8",
        "--input-len", "512", "--output-len", "64",
    )  # fmt: skip
    assert _plain(result) == printed
    assert result.deployment.num_chips == 2 and result.estimate.fits


@pytest.mark.parametrize(
    ("kwargs", "args"),
    [
        ({"chip": "h100-sxm"}, ("--chip", "h100-sxm")),
        (
            {"chip": "tpu-v5p", "engine": "roofline", "batch": 3},
            ("--chip", "tpu-v5p", "--engine", "roofline", "--batch", "3"),
        ),
        (
            {"chip": "h100-sxm", "overrides": ["matrix.peak.bf16=1979 TFLOP/s"]},
            ("--chip", "h100-sxm", "--set", "matrix.peak.bf16=1979 TFLOP/s"),
        ),
    ],
)
def test_gemm_to_dict_is_the_command_json(kwargs, args):
    result = t.gemm(4096, 2048, 1024, **kwargs)
    assert _plain(result) == _cli_json("gemm", "4096", "2048", "1024", *args)


def test_gemm_overrides_as_a_mapping_equal_set_strings():
    strings = t.gemm(4096, 4096, 4096, chip="h100-sxm", overrides=["matrix.peak.bf16=1979 TFLOP/s"])
    mapping = t.gemm(
        4096, 4096, 4096, chip="h100-sxm", overrides={"matrix.peak.bf16": "1979 TFLOP/s"}
    )
    plain = t.gemm(4096, 4096, 4096, chip="h100-sxm")
    assert strings.to_dict() == mapping.to_dict()
    assert strings.timing.time_s < plain.timing.time_s


def test_every_python_example_of_the_doc_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (
            lambda: t.train("llama3-8b", chip="h100-sxm", **(TRAIN | {"num_chips": 0})),
            "--num-chips",
        ),
        (lambda: t.train("llama3-8b", chip="nochip", **TRAIN), "chip"),
        (lambda: t.train("nomodel", chip="h100-sxm", **TRAIN), "model"),
        (lambda: t.train("llama3-8b", chip="h100-sxm", recompute="most", **TRAIN), "--recompute"),
        (lambda: t.train("llama3-8b", chip="h100-sxm", tokens=float("nan"), **TRAIN), "--tokens"),
        (lambda: t.train("llama3-8b", chip="h100-sxm", tp=3, pp=1, dp=2, **TRAIN), "--num-chips"),
        (lambda: t.train("llama3-8b", chip=42, **TRAIN), "--chip"),
        (lambda: t.infer("llama3-8b", chip="h100-sxm", num_chips=0), "--num-chips"),
        (lambda: t.infer("llama3-8b", chip="h100-sxm", input_len=9000), "--input-len"),
        (lambda: t.gemm(0, 8, 8, chip="h100-sxm"), "m"),
        (lambda: t.gemm(8, 8, 8, chip="h100-sxm", dtype="fp64"), "--dtype"),
        (lambda: t.gemm(8, 8, 8, chip=load_chip("h100-sxm"), overrides=["a=1"]), "overrides"),
    ],
)
def test_a_bad_argument_is_a_spec_error_naming_it(call, named):
    with pytest.raises(SpecError) as caught:
        call()
    assert caught.value.key_path == named, str(caught.value)
