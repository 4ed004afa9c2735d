"""How routed tokens load the experts of an expert-parallel (ep) group.

A mixture-of-experts layer runs its experts on ep ranks, each holding experts / ep of
them. After the dispatch all-to-all every rank runs the rows routed to its experts, and
the layer waits for the busiest rank (the combine all-to-all cannot finish before it).

Imbalance F = the busiest ep rank's routed rows / the mean rank's (the mean rank receives
as many rows as it sends: its tokens x top_k). On that rank the layer runs ceil(F x mean)
rows, spread over its experts (the rank's experts all as loaded as its share: an even
spread inside the rank; with one expert per rank F is the busiest expert's load / mean).
Rows enter the expert GEMMs as their real M (tokens routed to one expert), so the GEMM
engine prices the small-M inefficiency of decode; when fewer rows than experts arrive,
only that many experts run (one row each), and only their weights are read.

Default F (DEFAULT_MOE_IMBALANCE): 1 / 0.66 = 1.52. UC Berkeley's ADRS case study of
DeepSeek's open-source EPLB (Cheng, Wang, Liu, Pan, Stoica et al., "Automating Algorithm
Discovery: A Case Study in MoE Load Balancing", 2025-10-23,
https://ucbskyadrs.github.io/blog/moe-load-balancing): after EPLB rebalancing of expert
placement, on a MoE simulator driven by ShareGPT and GSM8K routing, "a load balance factor
of 0.66 (calculated as the ratio of average to maximum tokens generated per GPU)". It is a
serving measurement with EPLB; training batches (DeepSeek-V3's auxiliary-loss-free
balancing over 2048 GPUs' batches) may be better balanced, and no published max/mean of a
training run's ep ranks was found: `train` defaults to 1 (the even load of earlier
versions), `serve` to this figure; --moe-imbalance sets either.
"""

from __future__ import annotations

from math import ceil, isfinite

from tigris.errors import SpecError

# busiest EP rank's tokens / mean (1 / the ADRS study's 0.66 average-to-maximum ratio)
DEFAULT_MOE_IMBALANCE = 1 / 0.66
MAX_MOE_IMBALANCE = 1e3  # far beyond any measured skew: a typo, not a load
ROUNDING_SLACK = 1e-9  # F x rows within this of an integer is that integer


def check_imbalance(value: float, option: str = "--moe-imbalance") -> float:
    """`value` as an imbalance factor, or a SpecError naming `option`: at least 1 (the
    busiest rank has at least the mean load) and finite."""
    if not isinstance(value, (int, float)) or not isfinite(value):
        raise SpecError(f"must be a finite number, got {str(value)[:40]!r}", key_path=option)
    if not 1.0 <= value <= MAX_MOE_IMBALANCE:
        raise SpecError(
            f"must be between 1 and {MAX_MOE_IMBALANCE:g}, got {value:g}",
            key_path=option,
            hint="the busiest expert-parallel rank's routed tokens / the mean rank's",
        )
    return float(value)


def busiest_rank_rows(mean_rows: int, imbalance: float) -> int:
    """Rows the busiest rank runs when the mean rank runs `mean_rows`: ceil(F x mean)."""
    return ceil(mean_rows * imbalance - ROUNDING_SLACK)


def rank_expert_load(
    mean_rows: int, num_experts: int, ep: int, imbalance: float
) -> tuple[int, int]:
    """(experts that run, rows each) on the busiest of `ep` ranks holding `num_experts`
    experts, when the mean rank runs `mean_rows` routed rows: its ceil(F x mean_rows)
    rows over its experts / ep experts, each at most ceil(rows / experts) (the busiest of
    them sets the grouped GEMM's M); fewer experts than that when fewer rows arrive."""
    local = max(1, num_experts // ep)
    rows = busiest_rank_rows(mean_rows, imbalance)
    if rows <= 0:
        return 0, 0
    running = min(local, rows)
    return running, ceil(rows / running)


# How a serving engine runs the expert GEMMs (Deployment.moe_expert_gemm):
# - "native": the chip's GEMM path in the deployment's compute dtype, as any other GEMM.
# - "sm80-a16": CUTLASS 2.x grouped GEMMs built on Ampere's synchronous mma.sync, with
#   16-bit activations and the stored weights widened in the kernel. TensorRT-LLM up to
#   v0.9 ran Mixtral's experts this way: its MoE plugin had no FP8 GEMM ("Added FP8
#   quantization support for Mixtral" is in the v0.10.0 release notes,
#   github.com/NVIDIA/TensorRT-LLM/releases/tag/v0.10.0; issue #1229 asked for it in
#   March 2024), and the Hopper (TMA warp-specialised, wgmma) MoE grouped GEMMs came with
#   later releases (cpp/tensorrt_llm/kernels/cutlass_kernels/moe_gemm/
#   moe_gemm_tma_ws_launcher.*, whose dispatch keeps the SM80 kernels alongside). The
#   v0.9.0 tree's dispatch itself was not read: this path is inferred from those notes.
#   The weights stay as stored (the v0.9.0 table's FP8 rows keep FP8 weights and KV
#   cache), so the bytes read are unchanged; widening them to 16 bits costs what any
#   narrow-weight GEMM's dequantisation costs (serving.step_time). On Hopper mma.sync
#   reaches a fraction of wgmma's throughput: the step timer runs these GEMMs at the
#   chip's FlashAttention-2
#   matrix fraction (Calibration.attention_fraction['flash2'], fitted on Dao 2023's FA2
#   figures, a kernel that issues the same mma.sync on Hopper), its matrix_fraction where
#   none was fitted. Nothing here is fitted on a MoE measurement.
EXPERT_GEMM_PATHS = ("native", "sm80-a16")
MMA_SYNC_KERNEL = "flash2"  # the attention kernel whose fitted fraction stands for mma.sync
SIXTEEN_BIT = ("fp16", "bf16")


def check_expert_gemm(value: str, option: str = "moe_expert_gemm") -> str:
    """`value` as an expert-GEMM path, or a SpecError naming `option`."""
    if value not in EXPERT_GEMM_PATHS:
        raise SpecError(
            f"unknown expert GEMM path {str(value)[:30]!r}",
            key_path=option,
            hint=" or ".join(EXPERT_GEMM_PATHS),
        )
    return value


def legacy_expert_dtype(compute_dtype: str, activation_dtype: str) -> str:
    """The dtype an "sm80-a16" expert GEMM multiplies in: the compute dtype when it is
    16-bit, else the deployment's 16-bit activation dtype (fp16 if that is not 16-bit)."""
    if compute_dtype in SIXTEEN_BIT:
        return compute_dtype
    return activation_dtype if activation_dtype in SIXTEEN_BIT else "fp16"
