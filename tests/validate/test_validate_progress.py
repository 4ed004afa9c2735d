"""`tigris validate gemm|attention|collectives|train|infer`: progress (rows done of rows
total) on stderr, nothing there with --quiet, and stdout carrying only the JSON.

The slow commands (infer runs for a minute or more) are not run to the end: the test
reads the first progress line, which TIGRIS_PROGRESS_EVERY_S=0 makes appear at once, and
stops the process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

COMMANDS = ("gemm", "attention", "collectives", "train", "infer")


def _env(every_s: str) -> dict[str, str]:
    return dict(os.environ, TIGRIS_PROGRESS_EVERY_S=every_s)


@pytest.mark.parametrize("command", COMMANDS)
def test_progress_line_on_stderr_when_stdout_is_not_a_terminal(command):
    process = subprocess.Popen(
        [sys.executable, "-m", "tigris", "validate", command, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env("0"),
    )
    try:
        line = process.stderr.readline()
    finally:
        process.kill()
        process.communicate()
    assert re.match(rf"validate {command}: rows: 0/\d+ \(0%\)", line), line


def test_gemm_json_is_the_same_with_and_without_progress():
    args = [sys.executable, "-m", "tigris", "validate", "gemm", "--json"]
    loud = subprocess.run(args, capture_output=True, text=True, env=_env("0"), timeout=120)
    quiet = subprocess.run(
        [*args, "--quiet"], capture_output=True, text=True, env=_env("0"), timeout=120
    )
    assert loud.returncode == quiet.returncode == 0, loud.stderr
    assert re.search(r"validate gemm: rows: (\d+)/\1 \(100%\)", loud.stderr), loud.stderr
    assert quiet.stderr == ""
    assert loud.stdout == quiet.stdout
    json.loads(loud.stdout)


def _validate_app() -> typer.Typer:
    from tigris.cli.kernels import register as register_kernels
    from tigris.cli.serve import register as register_serving
    from tigris.cli.train import register as register_parallel

    app = typer.Typer()
    validate_app = typer.Typer()
    app.add_typer(validate_app, name="validate")
    register_parallel(app, validate_app)
    register_kernels(app, validate_app)
    register_serving(app, validate_app)
    return app


def _fake_rows(*args, progress=None, **kwargs):
    for done in range(4):
        progress(done, 3)
    return []


def _fake_protocol(result_type):
    """A stub of a protocol run (train, infer): progress, then no rows."""

    def run(*args, progress=None, **kwargs):
        _fake_rows(progress=progress)
        return result_type([], [], [], "source")

    return run


@pytest.mark.parametrize(
    ("command", "module", "function"),
    [
        ("attention", "tigris.validate.attention_protocol", "validate_attention_protocol"),
        ("collectives", "tigris.validate.collective_protocol", "validate_collectives_protocol"),
        ("train", "tigris.validate.train_protocol", "validate_train_protocol"),
        ("infer", "tigris.validate.infer_protocol", "validate_infer_protocol"),
    ],
)
def test_quiet_silences_the_progress(monkeypatch, command, module, function):
    """The command passes its Progress to the rows' loop, and --quiet silences it (rows
    stubbed: the real ones take from seconds to a minute)."""
    import importlib

    imported = importlib.import_module(module)
    fake = _fake_rows
    if function.endswith("_protocol"):
        fake = _fake_protocol(getattr(imported, f"{command.capitalize()}Validation"))
    monkeypatch.setattr(imported, function, fake)
    monkeypatch.setenv("TIGRIS_PROGRESS_EVERY_S", "0")
    app = _validate_app()
    loud = CliRunner().invoke(app, ["validate", command, "--json"])
    assert loud.exit_code == 0, loud.output
    assert f"validate {command}: rows: 3/3" in loud.stderr
    json.loads(loud.stdout)
    quiet = CliRunner().invoke(app, ["validate", command, "--json", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout
