"""DeepEP's expert-parallel dispatch and combine, and two-batch overlap, for the serving
step timer (Deployment.ep_all_to_all "deepep", Deployment.two_batch_overlap).

DeepEP (github.com/deepseek-ai/DeepEP, README "Performance", V1 kernels as SGLang and
DeepSeek ran them in 2025) publishes the bandwidth its kernels reach on H800 with one
CX7 400 Gb/s NIC per GPU, FP8 dispatch and BF16 combine, 7168 hidden, top-8 experts:
- normal kernels (training, prefill: NVLink + RDMA forwarding, 4096 tokens per batch):
  the bottleneck bandwidth of the RDMA side across nodes, or of NVLink inside one node;
  a token crosses to each remote NODE its experts sit on once and is forwarded over
  NVLink there, so the RDMA bytes per token are the hidden state times the expected
  number of distinct remote nodes among its top_k experts (uniform routing; DeepSeek-V3
  caps it at 4 nodes by group-limited routing, which is not modelled);
- low-latency kernels (decode: pure RDMA, every routed copy sent, 128 tokens per
  batch; DeepEP advises at most 256 tokens per rank): the RDMA bandwidth of all copies.
The tables are taken as they are for other chips with a 400 Gb/s NIC per GPU (H100 SXM
in the same HGX board); they are a software figure of that NIC, not of the chip.
Dispatch carries FP8 with one fp32 scale per 128 values (DeepSeek-V3 report, Sec. 3.3.3:
activations before the MoE up-projections are quantised to FP8 for dispatch, the
combine stays BF16).

Two-batch overlap (DeepSeek's inference profile, github.com/deepseek-ai/profile-data;
SGLang's TBO): the step's batch runs as two micro-batches whose dispatch/combine run
while the other computes, so communication costs only what exceeds the computation it
hides behind.
"""

from __future__ import annotations

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


def overlapped_comm_s(comm_s: float, compute_s: float) -> float:
    """Communication left exposed when two micro-batches hide it behind `compute_s`."""
    return max(0.0, comm_s - compute_s)
