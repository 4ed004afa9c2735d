"""Every example sweep loads and passes the checks made before any evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tigris.explore import load_sweep

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_loads(path: Path) -> None:
    sweep = load_sweep(path)
    assert sweep.space.size > 1
    assert sweep.objectives
