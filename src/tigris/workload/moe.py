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


# DeepEP's dispatch and combine (github.com/deepseek-ai/DeepEP, README "Performance", V1
# kernels; tigris.serving.ep_kernels's docstring says how serving uses them, and
# tigris.parallel.step_model how training does): bandwidths measured on H800 with one
# CX7 400 Gb/s NIC per GPU, FP8 dispatch and BF16 combine, 7168 hidden, top-8 experts.
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128  # e4m3 values + one fp32 scale per 128 of them
COMBINE_BYTES = 2.0  # bf16
GPUS_PER_NODE = 8  # the HGX node DeepEP was measured on (one NIC per GPU)
LOW_LATENCY_MAX_TOKENS = 256  # DeepEP: low-latency kernels for <= 256 tokens per rank
# DeepEP README V1 tables (H800, CX7 400 Gb/s): ep -> (dispatch, combine) GB/s
NORMAL_INTRANODE_GB_S = (153.0, 158.0)  # ep 8 over NVLink
NORMAL_INTERNODE_GB_S = {16: (43.0, 43.0), 32: (44.0, 47.0), 64: (46.0, 45.0)}
LOW_LATENCY_GB_S = {
    8: (46.0, 46.0),
    16: (43.0, 44.0),
    32: (41.0, 41.0),
    64: (40.0, 41.0),
    128: (39.0, 39.0),
    256: (39.0, 40.0),
}


def _nearest(table: dict[int, tuple[float, float]], ep: int) -> tuple[float, float]:
    """The table's row for the ep degree nearest to `ep` (on a log scale)."""
    return table[min(table, key=lambda size: abs(size.bit_length() - ep.bit_length()))]


def remote_nodes_per_token(ep: int, top_k: int) -> float:
    """Expected distinct remote nodes a token's top_k experts sit on, experts drawn
    uniformly over ep / GPUS_PER_NODE nodes."""
    nodes = max(1, -(-ep // GPUS_PER_NODE))
    if nodes == 1:
        return 0.0
    return (nodes - 1) * (1.0 - (1.0 - 1.0 / nodes) ** top_k)


def deepep_layer_s(rank_tokens: float, ep: int, top_k: int, hidden: int, load: float) -> float:
    """One MoE layer's dispatch + combine seconds on the busiest rank (`load`: its
    routed rows / the mean rank's, Deployment.moe_imbalance)."""
    if ep <= 1 or rank_tokens <= 0:
        return 0.0
    if rank_tokens <= LOW_LATENCY_MAX_TOKENS:
        copies = float(top_k)
        dispatch_bw, combine_bw = _nearest(LOW_LATENCY_GB_S, ep)
    elif ep <= GPUS_PER_NODE:
        copies = float(top_k)
        dispatch_bw, combine_bw = NORMAL_INTRANODE_GB_S
    else:
        copies = remote_nodes_per_token(ep, top_k)
        dispatch_bw, combine_bw = _nearest(NORMAL_INTERNODE_GB_S, ep)
    values = rank_tokens * copies * hidden * load
    return values * (FP8_DISPATCH_BYTES / dispatch_bw + COMBINE_BYTES / combine_bw) / 1e9


# DeepSeek-V3 report Sec. 3.2.2: its all-to-all kernels need "only 20 SMs" (of H800's
# 132) to fill IB and NVLink; the rest compute beside them (DeepEP's normal kernels keep
# that SM budget by default). The training step model prices the overlap by this share.
DEEPEP_SMS = 20


def deepep_exchange_s(
    rank_tokens: float, ep: int, top_k: int, hidden: int, load: float, phase: str
) -> tuple[float, float]:
    """(dispatch + combine, dispatch) seconds of one MoE layer's ep exchange in training
    through DeepEP's kernels (deepep_layer_s) for the `rank_tokens` one rank routes.
    Forward: FP8 dispatch, BF16 combine (DeepSeek-V3 report Sec. 3.3.3). Backward: the
    mirror (the combine's gradient dispatched, the dispatch's combined), both BF16 (the
    report keeps the backward combine in BF16): the forward's seconds x 2 x BF16 / (FP8
    + BF16). Node-limited routing (at most 4 nodes a token, Sec. 2.1.2) is not
    modelled: the copies are the expected distinct remote nodes of uniformly routed
    experts, an upper bound."""
    both = deepep_layer_s(rank_tokens, ep, top_k, hidden, load)
    share = FP8_DISPATCH_BYTES / (FP8_DISPATCH_BYTES + COMBINE_BYTES)
    if phase == "bwd":
        return both * 2 * COMBINE_BYTES / (FP8_DISPATCH_BYTES + COMBINE_BYTES), both / 2
    return both, both * share
