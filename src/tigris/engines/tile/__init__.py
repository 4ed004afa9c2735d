"""The tile engine: an op tiled on the chip's memory hierarchy and parallel units.

One model per op, each written once and evaluated on one chip or on a batch of chips
(`times_grid`; a single chip is a batch of one):
- gpu: GPU GEMM (thread-block tiles in waves, split-K, L2 reuse; the best tiling) and CPU
  GEMM (SIMD peak with cache blocking on the last on-chip level);
- systolic: GEMM on systolic arrays (the fold table, the core grid, SRAM blocking, the
  vector-unit epilogue, the DMA pipeline's fill and drain from the chip's DMA latency and
  barrier cycles);
- attention: FlashAttention, the unfused kernels, forward attention on systolic arrays;
- stream: norms, activations, optimizer (DRAM bound, plus the DMA pipeline on systolic
  chips);
- batch: the same formulas over numpy rows of many chips (times_grid, times_s_many).
Every op pays the chip's kernel overhead (start and tail on the device). Calibration terms
(chip.calibration) are few and fitted on measured.csv only (tigris.validate.calibrate).
"""

from tigris.engines.tile.attention import (
    time_attention,
    time_flash_attention,
    time_gemm,
    time_systolic_attention,
    time_unfused_attention,
    unfused_attention_ops,
)
from tigris.engines.tile.common import (
    ATTENTION_BLOCK_OVERHEAD,
    ATTENTION_BLOCK_Q,
    SYSTOLIC_SOFTMAX_PASSES,
    VECTOR_LANE_CYCLES,
    blocked_traffic_bytes,
)
from tigris.engines.tile.engine import TileEngine
from tigris.engines.tile.gpu import time_cpu_gemm, time_gpu_gemm
from tigris.engines.tile.stream import time_stream
from tigris.engines.tile.systolic import (
    systolic_compute_cycles,
    systolic_fold_cycles,
    systolic_parallel_cycles,
    systolic_pipeline_s,
    time_systolic_gemm,
)

__all__ = [
    "ATTENTION_BLOCK_OVERHEAD",
    "ATTENTION_BLOCK_Q",
    "SYSTOLIC_SOFTMAX_PASSES",
    "VECTOR_LANE_CYCLES",
    "TileEngine",
    "blocked_traffic_bytes",
    "systolic_compute_cycles",
    "systolic_fold_cycles",
    "systolic_parallel_cycles",
    "systolic_pipeline_s",
    "time_attention",
    "time_cpu_gemm",
    "time_flash_attention",
    "time_gemm",
    "time_gpu_gemm",
    "time_stream",
    "time_systolic_attention",
    "time_systolic_gemm",
    "time_unfused_attention",
    "unfused_attention_ops",
]
