"""Start-up stays light: `import tigris.cli.app`, `tigris --help` and a one-chip `tigris
gemm` load none of the heavy modules (ml_dtypes alone takes ~0.6 s to load) nor the
cycle-level simulator or the compiler. Checked on sys.modules in a fresh interpreter, not
by timing.

The tile engine reads the systolic fold rule from tigris.engines.systolic.dataflow (one
table for every engine), so the systolic package itself may load: its __init__ imports
its modules on first use, and the simulator must not be one of them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "ml_dtypes",
    "plotly",
    "duckdb",
    "numpy",
    "tigris.engines.systolic.simulator",
    "tigris.toolchain.compiler",
    "markdown_it",  # typer's help renderer imports it; Tigris never writes markdown help
)

# Runs the CLI's main() in this interpreter, then lists the heavy modules it loaded.
_RUN_MAIN = """
import json, sys
from tigris.cli.app import main
sys.argv = ["tigris", *{args!r}]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
sys.stderr.write(json.dumps({{"code": code, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def loaded_by(*args: str) -> tuple[object, list[str]]:
    """(exit code, heavy modules loaded) of `tigris ARGS` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", _RUN_MAIN.format(args=args, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"]


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = f"import sys, tigris.cli.app; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [("--help",), ("gemm", "8192", "8192", "8192", "--chip", "h100-sxm", "--json")],
    ids=["help", "gemm"],
)
def test_command_loads_nothing_heavy(args: tuple[str, ...]) -> None:
    code, loaded = loaded_by(*args)
    assert code == 0
    assert loaded == []


def test_help_loads_no_spec_machinery() -> None:
    """`tigris --help` reads no spec: pydantic and YAML (about 0.3 s together) stay
    unloaded, so a command module may import tigris.api only for constants that do not
    pull them in (api.training once loaded workload.precision at import: --help 0.2 -> 0.5 s)."""
    code = _RUN_MAIN.format(args=("--help",), heavy=("pydantic", "yaml"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}


def test_json_draws_no_table() -> None:
    """A --json command prints no table: rich's console and tables stay unloaded."""
    args = ("gemm", "8192", "8192", "8192", "--chip", "h100-sxm", "--json")
    code = _RUN_MAIN.format(args=args, heavy=("rich.console", "rich.table"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}


def test_deferred_rich_modules_still_work() -> None:
    """After cli.lazy_rich.defer(), rich's markdown and traceback load when first used."""
    code = (
        "from tigris.cli.lazy_rich import defer\n"
        "defer()\n"
        "from rich.console import Console\n"
        "from rich.markdown import Markdown\n"
        "from rich.traceback import Traceback\n"
        "Console(width=40).print(Markdown('# title'))\n"
        "print(Traceback.__module__, type(Markdown('x')).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["rich.traceback", "Markdown"]
