"""Decoders with random weights on simulated tigris-1 equal an independent numpy reference
computed in the same order: bit for bit in int8, bf16 (fp32 accumulation) and fp8."""

from __future__ import annotations

import numpy as np
import pytest
from decoder_reference import reference

from tigris.hardware import load_chip
from tigris.toolchain.compiler import compile_graph
from tigris.toolchain.executor.run import execute
from tigris.toolchain.frontends.decoder import decoder_graph, tiny_spec
from tigris.toolchain.isa.machine import machine_of

MACHINE = machine_of(load_chip("tigris-1"))


@pytest.mark.parametrize(
    ("style", "mode", "lengths"),
    [
        ("gpt2", "int8", (17, 40, 9)),
        ("gpt2", "bf16", (17, 40, 9)),
        ("llama", "bf16", (33, 6)),
        ("llama", "int8", (33, 6)),
        ("gpt2", "fp8", (21,)),
    ],
)
def test_decoder_matches_reference_bit_for_bit(
    style: str, mode: str, lengths: tuple[int, ...]
) -> None:
    graph = decoder_graph(
        tiny_spec(
            style,
            hidden_size=64,
            ffn_hidden_size=256 if style == "gpt2" else 192,
            num_heads=2,
            num_kv_heads=2 if style == "gpt2" else 1,
            head_dim=32,
            vocab_size=300,
        ),
        lengths,
        seed=3,
    )
    ids = np.random.default_rng(7).integers(0, 300, graph.num_tokens).astype(np.int32)
    compiled = compile_graph(graph, MACHINE, mode, calibration=[ids])
    result = execute(compiled.program, compiled.image, MACHINE, {"ids": ids})
    got = result.outputs[graph.output].astype(np.float32)
    want = reference(graph, ids, compiled)
    assert got.shape == want.shape
    mismatched = int((got.view(np.uint32) != want.view(np.uint32)).sum())
    assert mismatched == 0, f"{mismatched} of {got.size} logits differ"
    assert np.isfinite(got).all()


def test_a_changed_order_is_detected() -> None:
    """The comparison is sharp: summing K in one fp32 chain instead of fold order differs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 384)).astype(np.float32)
    w = rng.standard_normal((384, 8)).astype(np.float32)
    from decoder_reference import matmul

    folded = matmul(x, w)
    one_chain = np.zeros((8, 8), np.float32)
    for k in range(384):
        one_chain = (one_chain + x[:, k : k + 1] * w[k : k + 1]).astype(np.float32)
    assert (folded != one_chain).any()
