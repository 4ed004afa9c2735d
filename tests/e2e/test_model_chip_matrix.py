"""Issue 16's new models through `tigris infer`, `serve` and `train` on today's systems,
each run as a user runs it (a subprocess per cell; setups in model_matrix.py).

CI runs a subset: four models whose layers differ most from the older ones (MLA and
fine-grained experts, attention sinks with sliding windows, chunked attention with
interleaved MoE, local/global layers) on three systems (GB200 NVL72, MI355X, TPU v7),
`infer` only; each must exit 0. The whole matrix (14 models x 7 chips x 3 commands) is
marked slow: `pytest tests/e2e -m slow`; every cell must exit 0, or exit 3 for memory
with a one-line reason (never a traceback, exit 1 or exit 2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from model_matrix import CHIPS, MODELS, layout, run_cell, run_row, smallest_chips

FAST_MODELS = ("deepseek-v3", "gpt-oss-20b", "llama4-scout", "gemma3-27b")
FAST_CHIPS = ("gb200", "mi355x", "tpu-v7")


def _describe(cell) -> str:
    return f"tigris {' '.join(cell.argv)} -> exit {cell.returncode}: {cell.message}"


def test_fast_subset_infers() -> None:
    pairs = [(model, chip) for model in FAST_MODELS for chip in FAST_CHIPS]
    with ThreadPoolExecutor(2) as pool:
        cells = list(pool.map(lambda pair: run_cell(*pair, "infer"), pairs))
    failed = [_describe(cell) for cell in cells if cell.status != "ok"]
    assert not failed, "\n".join(failed)
    for cell in cells:
        assert cell.figures["tpot_s"] > 0 and cell.figures["throughput_tokens_per_s"] > 0


def test_layout_divides_heads_and_experts() -> None:
    """The matrix's own layout rule: tp divides the heads, ep the experts (a layout miss
    would be reported as a bug of the command, not of the matrix)."""
    assert layout("llama4-maverick", 16) == ["--num-chips", "16", "--tp", "8", "--ep", "2"]
    assert layout("falcon-180b", 16) == ["--num-chips", "16", "--tp", "8", "--pp", "2"]
    assert layout("gpt-j-6b", 1) == ["--num-chips", "1", "--tp", "1"]
    # 671 B parameters in bf16 need 1.34 TB: 32 H100s hold them at 85 % of 80 GB
    assert smallest_chips("deepseek-v3", "h100-sxm") == 32


@pytest.mark.slow
@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("model", MODELS)
def test_full_matrix(model: str, chip: str) -> None:
    cells = run_row(model, chip)
    bugs = [_describe(cell) for cell in cells if cell.status == "bug"]
    assert not bugs, "\n".join(bugs)
