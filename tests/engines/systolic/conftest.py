"""Fixtures for the systolic simulator tests."""

from __future__ import annotations

import json

import pytest
from systolic_helpers import GOLDEN_DIR


@pytest.fixture(scope="session")
def golden_records() -> list[dict]:
    return json.loads((GOLDEN_DIR / "golden.json").read_text())["records"]
