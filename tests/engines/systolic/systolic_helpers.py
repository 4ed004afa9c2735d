"""Helpers shared by the systolic simulator tests (a plain module: conftest names can clash)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tigris.engines.systolic import SystolicConfig

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden" / "scalesim"


def load_make_golden():
    """Import tests/golden/scalesim/make_golden.py (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN_DIR / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_from_golden(config: dict) -> SystolicConfig:
    """The SystolicConfig matching one golden record (SCALE-Sim kB are 1024 bytes)."""
    return SystolicConfig(
        rows=config["rows"],
        cols=config["cols"],
        dataflow=config["dataflow"],
        ifmap_sram_bytes=config["ifmap_sram_kb"] * 1024,
        filter_sram_bytes=config["filter_sram_kb"] * 1024,
        ofmap_sram_bytes=config["ofmap_sram_kb"] * 1024,
    )
