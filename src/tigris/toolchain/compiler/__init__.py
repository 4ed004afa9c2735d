"""The Tigris compiler: model graph -> ISA program (tiling to SRAM, double buffering,
matmuls on the arrays with fused epilogues, vector-unit norms/softmax/activations/RoPE,
work split over cores; bf16, int8 and fp8 numerics).

Public API:
    compile_graph(graph, machine, mode, calibration=...) -> Compiled(program, image, ...)
    Graph and its operators (Embedding, Linear, LayerNorm, RMSNorm, Rope, Attention,
    GatedActivation, MeanPool)
    run_float(graph, ids)  the fp32 float model (calibration, baselines)
"""

from tigris.toolchain.compiler.compile import Compiled, compile_graph
from tigris.toolchain.compiler.float_model import run_float
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
    Unsupported,
)
from tigris.toolchain.compiler.numerics import MODES

__all__ = [
    "MODES",
    "Attention",
    "Compiled",
    "Embedding",
    "GatedActivation",
    "Graph",
    "LayerNorm",
    "Linear",
    "MeanPool",
    "RMSNorm",
    "Rope",
    "Unsupported",
    "compile_graph",
    "run_float",
]
