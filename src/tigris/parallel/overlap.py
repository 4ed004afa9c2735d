"""What overlapping a collective with compute costs, and PyTorch FSDP's gradient passes.

1. Interference. On a GPU a collective is a kernel (NCCL, RCCL) running on the same SMs and
   the same HBM as the compute it overlaps: it holds one SM per channel for its whole
   duration, and moving B bytes/s over the links moves 2-3 B through HBM (stored, then read
   back or reduced). The compute running beside it slows down. Measured:

   - A100-SXM4-80GB, GPT training with FSDP-style all-gathers
     (github.com/NVIDIA/nccl/issues/1428): a GEMM 1.18 -> 2.08 ms and FlashAttention
     0.18 -> 0.33 ms while an AllGather kernel runs beside them, i.e. compute at ~0.56 of
     its rate; NCCL's maintainer attributes it to HBM bandwidth (2-3x the link traffic).
   - H100 (132 SMs), a GEMM overlapped with an all-gather of 24 blocks mimicking FSDP's
     prefetch: 80% -> 47% MFU, ~0.59 of its rate (forums.developer.nvidia.com/t/337991:
     the GEMM's single wave of 132 CTAs splits into two).
   - github.com/NVIDIA/nccl/issues/357 and #338: the same slow-down of every kernel
     overlapped with NCCL.

   Model: while collectives of `comm_s` run beside compute of `compute_s`, the compute
   proceeds at (1 - d) of its rate, d = COLLECTIVE_SLOWDOWN (0.43, the A100 GEMM above;
   the H100 figure agrees). A phase then takes max(comm_s, compute_s + d min(comm_s,
   compute_s)), and its exposed share is `exposed_s`. The collective's own slow-down is
   left out (the estimate errs on the fast side). TPUs move collectives with the ICI's DMA
   engines beside the TensorCores: no figure, no slow-down modelled; likewise other kinds.

2. PyTorch FSDP's gradient passes (torch/distributed/fsdp/_runtime_utils.py,
   _post_backward_hook and _reduce_grad; github.com/pytorch/pytorch). Each micro-batch,
   before reduce-scattering a unit's unsharded gradient, FSDP casts it to the
   MixedPrecision reduce_dtype when that differs from the compute dtype
   (`grad.to(reduce_dtype)`) and divides it in place by the gradient pre-divide factor
   (`_div_if_needed`, a factor > 1 for every world size > 1), each a pass over the whole
   unsharded gradient in HBM. llm-foundry's mixed_precision DEFAULT reduces in fp32 (a
   bf16 -> fp32 cast, then an fp32 division: 14 bytes per parameter), PURE in bf16 (the
   division only: 4 bytes). Megatron-LM accumulates its fp32 main_grad in the wgrad GEMM
   and has no such pass; the post-division of the 1/dp shard is small and left out.

3. Shared experts beside the dispatch all-to-all (DeepSeek-V3/R1, Kimi K2, Llama 4). A
   shared expert reads only the rank's own tokens, not the routed ones, so engines run it
   while the dispatch all-to-all is in flight (SGLang's DeepEP path launches the shared
   experts between dispatch's send and its completion; DeepSeek-V3 section 3.2.1 overlaps
   its all-to-alls with computation). The dispatch is what the shared expert hides; the
   combine waits for the routed experts and stays exposed, as do the routed experts
   themselves. Under the interference model of 1 the pair takes max(dispatch, shared +
   d min(dispatch, shared)) instead of dispatch + shared: `shared_expert_overlap_s` is
   the time saved, never negative (d < 1), so the overlap never makes a step slower.
"""

from __future__ import annotations

from tigris.hardware.chip import Chip
from tigris.hardware.quantities import dtype_bytes

# Fraction of its rate compute loses while a collective kernel runs beside it, by chip kind.
COLLECTIVE_SLOWDOWN: dict[str, float] = {"gpu": 0.43}  # NCCL #1428: 1.18 / 2.08 = 0.57


def collective_slowdown(chip: Chip) -> float:
    """d: compute runs at (1 - d) of its rate while a collective overlaps it on `chip`."""
    return COLLECTIVE_SLOWDOWN.get(chip.kind, 0.0)


def exposed_s(comm_s: float, compute_s: float, slowdown: float) -> float:
    """Seconds by which a phase of `compute_s` grows when collectives of `comm_s` run
    beside it: the part of the collectives it cannot hide, or the compute's slow-down
    while they run, whichever is larger."""
    return max(comm_s - compute_s, slowdown * min(comm_s, compute_s))


def shared_expert_overlap_s(dispatch_s: float, shared_s: float, slowdown: float) -> float:
    """Seconds saved when a shared expert's `shared_s` of GEMMs run beside a dispatch
    all-to-all of `dispatch_s` instead of after it (see the module docstring, 3)."""
    together = max(dispatch_s, shared_s + slowdown * min(dispatch_s, shared_s))
    return max(0.0, dispatch_s + shared_s - together)


def fsdp_grad_pass_bytes(reduce_dtype: str, compute_dtype: str = "bf16") -> tuple[float, float]:
    """(bytes read, bytes written) per parameter of FSDP's passes over an unsharded
    gradient before its reduce-scatter: the cast to `reduce_dtype` (when it differs from
    the compute dtype the gradient comes in) and the in-place pre-division."""
    grad_b, reduce_b = dtype_bytes(compute_dtype), dtype_bytes(reduce_dtype)
    read, written = reduce_b, reduce_b  # the division, in place
    if reduce_dtype != compute_dtype:
        read, written = read + grad_b, written + reduce_b
    return read, written
