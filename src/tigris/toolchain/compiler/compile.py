"""Graph -> program: the operators lowered one after another, each a kernel ending in a
barrier, activations passed through HBM.

`compile_graph(graph, machine, mode, calibration=...)` returns a `Compiled`: the program,
its constant image (segment name -> bytes) and the activation scales it used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tigris.errors import UnsupportedError
from tigris.toolchain.compiler.context import Context
from tigris.toolchain.compiler.emitter import Emitter
from tigris.toolchain.compiler.float_model import calibrate
from tigris.toolchain.compiler.graph import (
    Attention,
    Embedding,
    GatedActivation,
    Graph,
    LayerNorm,
    Linear,
    MeanPool,
    RMSNorm,
    Rope,
)
from tigris.toolchain.compiler.layout import HbmLayout
from tigris.toolchain.compiler.lower_attention import lower_attention, lower_mean_pool
from tigris.toolchain.compiler.lower_linear import lower_linear
from tigris.toolchain.compiler.lower_rows import (
    lower_embedding,
    lower_gated,
    lower_norm,
    lower_rope,
)
from tigris.toolchain.compiler.numerics import mode as numerics_mode
from tigris.toolchain.isa.machine import Machine
from tigris.toolchain.isa.program import Program

LOWERINGS: dict[type, Callable] = {
    Embedding: lower_embedding,
    Linear: lower_linear,
    LayerNorm: lower_norm,
    RMSNorm: lower_norm,
    GatedActivation: lower_gated,
    Rope: lower_rope,
    Attention: lower_attention,
    MeanPool: lower_mean_pool,
}


@dataclass(frozen=True)
class Compiled:
    program: Program
    image: dict[str, bytes]
    activation_absmax: dict[str, float]  # per Linear: clipping range of its input scale
    smoothing: dict[str, np.ndarray]  # per Linear: SmoothQuant factors (quantized modes)


def compile_graph(
    graph: Graph,
    machine: Machine,
    mode: str = "bf16",
    *,
    calibration: list[np.ndarray] | None = None,
    smooth_alpha: float | None = 0.75,
    progress: Callable[[int, int], None] | None = None,
) -> Compiled:
    """Lower every operator of `graph` for `machine` in numerics `mode`.

    int8/fp8 need activation scales: they come from `calibration` (token-id arrays of the
    graph's sequence lengths) run through the float model, with SmoothQuant factors of
    migration strength `smooth_alpha` (None: no smoothing); UnsupportedError names the
    first operator with no lowering rule. `progress(done, total)` is called after each
    operator is lowered.
    """
    numerics = numerics_mode(mode)
    for node in graph.nodes:
        if type(node) not in LOWERINGS:
            kind = getattr(node, "kind", type(node).__name__)
            raise UnsupportedError(
                f"operator {node.name!r} ({kind}) cannot be lowered to the Tigris ISA"
            )
    absmax: dict[str, float] = {}
    smoothing: dict[str, np.ndarray] = {}
    if numerics.quantized:
        if not calibration:
            raise UnsupportedError(f"{mode} needs calibration inputs for its activation scales")
        assert numerics.qmax is not None
        absmax, smoothing = calibrate(
            graph, calibration, numerics.qmax, numerics.name == "int8", smooth_alpha
        )
    layout = HbmLayout()
    ids = layout.tensor(graph.ids, graph.num_tokens, 1, "i32")
    ctx = Context(machine, numerics, graph, Emitter(machine), layout, absmax, smoothing)
    for index, node in enumerate(graph.nodes):
        LOWERINGS[type(node)](node, ctx)
        if progress is not None:
            progress(index + 1, len(graph.nodes))
    out = layout.tensors[graph.output]
    program = Program(
        name=graph.name,
        chip=machine.chip_id,
        mode=mode,
        hbm_bytes=layout.size,
        inputs=(ids,),
        outputs=(out,),
        segments=tuple(layout.segments),
        instructions=tuple(ctx.emitter.instructions),
    )
    return Compiled(program, dict(layout.image), absmax, smoothing)
