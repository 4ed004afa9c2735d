"""Executor cycles vs the tile engine (neutral calibration), GPT-2-small-width 2-layer
decoder, bf16 prefill of 4 x 512 tokens on tigris-1, timing only: the whole-model
agreement and a per-operator table with the reason for each remaining difference."""

import time

import numpy as np

from tigris.hardware import load_chip
from tigris.toolchain.compiler import compile_graph
from tigris.toolchain.executor.fidelity import agreement, compare, table
from tigris.toolchain.executor.run import execute
from tigris.toolchain.frontends.decoder import decoder_graph, tiny_spec
from tigris.toolchain.isa.machine import machine_of

chip = load_chip("tigris-1")
m = machine_of(chip)
spec = tiny_spec(
    "gpt2",
    name="gpt2-small-2l",
    hidden_size=768,
    num_heads=12,
    num_kv_heads=12,
    head_dim=64,
    ffn_hidden_size=3072,
    vocab_size=1024,
    max_position_embeddings=1024,
    num_layers=2,
)
g = decoder_graph(spec, (512,) * 4, lm_head=False)
t = time.time()
c = compile_graph(g, m, "bf16")
print(f"compile {time.time() - t:.1f} s, {c.program.num_instructions} instructions")
t = time.time()
r = execute(c.program, c.image, m, {"ids": np.zeros(g.num_tokens)}, compute=False)
print(f"time-only run {time.time() - t:.1f} s; utilization {r.utilization}")
rows = compare(g, r.kernel_end_cycles, m.clock_hz, chip, "bf16")
for x in rows:
    print(
        f"{x.name:16s} {x.kind:10s} {x.executed_s * 1e6:8.2f} {x.predicted_s * 1e6:8.2f} {x.ratio:.2f}"
    )
print(table(rows))
print(f"whole model: executor / tile engine = {agreement(rows):.3f}")
