"""A one-chip `tigris gemm` after a first run reads its chip from the spec cache
(tigris.io.spec_cache): it parses no YAML and builds no pydantic validator, the bulk of
its start-up before; the first run and the later ones print the same. Checked on
sys.modules and the spec class in a fresh interpreter, not by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Runs the CLI's main() in this interpreter, then reports what the run loaded.
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
from tigris.hardware.chip import Chip
report = {{"code": code, "yaml": "yaml" in sys.modules,
          "validator_built": bool(Chip.__pydantic_complete__)}}
sys.stderr.write(json.dumps(report))
"""
GEMM = ("gemm", "8192", "8192", "8192", "--chip", "h100-sxm", "--dtype", "bf16", "--json")


def _run(cache: Path, *extra_env: tuple[str, str]) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIGRIS_NO_CACHE"}
    env["TIGRIS_CACHE_DIR"] = str(cache)
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "-c", _RUN_MAIN.format(args=GEMM)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return json.loads(result.stderr.strip().splitlines()[-1]), result.stdout


def test_gemm_reads_its_chip_from_the_cache(tmp_path: Path) -> None:
    first, printed = _run(tmp_path)
    assert first == {"code": 0, "yaml": True, "validator_built": True}
    again, printed_again = _run(tmp_path)
    assert again == {"code": 0, "yaml": False, "validator_built": False}
    assert printed_again == printed
    off, printed_off = _run(tmp_path, ("TIGRIS_NO_CACHE", "1"))
    assert off == {"code": 0, "yaml": True, "validator_built": True}
    assert printed_off == printed
