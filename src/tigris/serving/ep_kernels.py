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

# DeepEP's figures and its dispatch/combine time live with the MoE workload rules
# (tigris.workload.moe), where the training step model reads them too
from tigris.workload.moe import (  # noqa: F401 (this module's names before the move)
    COMBINE_BYTES,
    FP8_DISPATCH_BYTES,
    GPUS_PER_NODE,
    LOW_LATENCY_GB_S,
    LOW_LATENCY_MAX_TOKENS,
    NORMAL_INTERNODE_GB_S,
    NORMAL_INTRANODE_GB_S,
    deepep_layer_s,
    remote_nodes_per_token,
)


def overlapped_comm_s(comm_s: float, compute_s: float) -> float:
    """Communication left exposed when two micro-batches hide it behind `compute_s`."""
    return max(0.0, comm_s - compute_s)
