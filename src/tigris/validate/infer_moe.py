"""MoE serving rows outside the TensorRT-LLM tables and the MLPerf harness: SGLang's
prefill-decode disaggregated DeepSeek-V3 on H100 with DP attention and wide expert
parallelism (data/measured-moe.csv, LMSYS / SGLang Team 2025-05-05,
lmsys.org/blog/2025-05-05-large-scale-ep, "Evaluation" section).

Each row's notes give the phase's published setup as `key=value` pairs:
- `phase=prefill; gpus=32; ep=32; tokens_per_gpu=16384; prompt_len=2000`: the prefill
  test on 4 nodes (EP32), each GPU running 16,384 prompt tokens per batch (the blog's
  profile table); the measured figure is input tokens/s per 8-GPU node.
- `phase=decode; gpus=72; ep=72; seqs_per_gpu=256; kv_len=2000`: the decode test on 9
  nodes (EP72), 256 sequences per GPU at a 2,000-token KV cache; output tokens/s per node.

Both phases run DP attention (each GPU its own sequences: the step timer's ep layout,
tp 1) with FP8 (block-scaled DeepGEMM) expert and projection GEMMs, and EPLB's placement
(the serving default imbalance, tigris.workload.moe, is the ADRS study of that same
EPLB). Approximated: EPLB's redundant experts (EP72 runs 288 expert slots for the 256
experts) are not modelled, so ep is the largest divisor of the experts not above the
published degree (72 -> 64): a rank still receives its tokens x top_k rows on average,
with 4 experts' weights instead of 3.6. DeepEP's kernels and the two-batch overlap the
blog runs are the deployment's (tigris.serving.ep_kernels).
"""

from __future__ import annotations

import re

from tigris.errors import InfeasibleError
from tigris.serving.deployment import build_deployment
from tigris.serving.step_time import StepTimer

SGLANG_SOURCE = "LMSYS / SGLang Team"
GPUS_PER_NODE = 8  # the blog's nodes: 8 H100 each
MODEL = "deepseek-v3"


def is_disagg_ep_row(row: dict[str, str]) -> bool:
    """A row of the SGLang large-scale EP blog."""
    return row["source"].startswith(SGLANG_SOURCE)


PHASE_KEYS = {
    "prefill": ("ep", "tokens_per_gpu", "prompt_len"),
    "decode": ("ep", "seqs_per_gpu", "kv_len"),
}


def _setup(row: dict[str, str]) -> dict[str, str]:
    """The `key=value` pairs of the row's notes; an InfeasibleError (the row is reported
    unmapped) when its phase or one of the phase's keys is missing."""
    setup = dict(re.findall(r"(\w+)=([\w.]+)", row["notes"]))
    keys = PHASE_KEYS.get(setup.get("phase", ""))
    missing = ["phase"] if keys is None else [key for key in keys if key not in setup]
    if missing:
        raise InfeasibleError(f"row {row['id'][:40]!r} notes give no {', '.join(missing)}")
    return setup


def expert_parallel_degree(published: int, num_experts: int) -> int:
    """The largest divisor of `num_experts` not above the published ep (redundant expert
    slots are not modelled)."""
    return max(d for d in range(1, min(published, num_experts) + 1) if num_experts % d == 0)


def predict_disagg_ep_row(row: dict[str, str], chip_id: str) -> float:
    """Tokens/s per 8-GPU node of the row's phase, from the step timer."""
    setup = _setup(row)
    deployment = build_deployment(MODEL, chip_id, num_chips=1, tp=1)
    ep = expert_parallel_degree(int(setup["ep"]), deployment.model.num_experts)
    deployment = build_deployment(
        MODEL, chip_id, num_chips=ep, tp=1, ep=ep, weight_dtype="fp8", compute_dtype="fp8",
        ep_all_to_all="deepep", two_batch_overlap=True,
    )  # fmt: skip
    timer = StepTimer(deployment)
    if setup["phase"] == "prefill":
        prompt = int(setup["prompt_len"])
        seqs_per_gpu = max(1, int(setup["tokens_per_gpu"]) // prompt)
        step_s = timer.prefill_step_s(seqs_per_gpu * ep, prompt)
        return GPUS_PER_NODE * seqs_per_gpu * prompt / step_s
    seqs_per_gpu = int(setup["seqs_per_gpu"])
    step_s = timer.decode_step_s(seqs_per_gpu * ep, float(setup["kv_len"]))
    return GPUS_PER_NODE * seqs_per_gpu / step_s
