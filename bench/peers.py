"""Peer tools timed in the same run as Tigris (DESIGN.md section 8: a ratio against a peer
measured on the same machine, since these machines' speed drifts from minute to minute).

The peers live in their own venv, never a Tigris dependency:

    python3 -m venv .venv-peers && .venv-peers/bin/pip install genz-llm llm-analysis

(or set TIGRIS_PEERS_PYTHON to another interpreter that has them). Without it the benches
print the figure DESIGN.md recorded instead, and say so.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Median seconds of one Llama-3-70B prefill estimate and one decode estimate (tp 8, H100,
# 1,024 in / 256 out) with GenZ, at batches 1, 8 and 64 in turn: the work of one `infer`.
GENZ_INFER = """
import json, statistics, sys, time
from GenZ import decode_moddeling, prefill_moddeling
runs = []
for _ in range({repeats}):
    for batch in (1, 8, 64):
        start = time.perf_counter()
        common = dict(model="meta-llama/Meta-Llama-3.1-70B", batch_size=batch,
                      input_tokens=1024, system_name="H100_GPU", bits="bf16", tensor_parallel=8)
        prefill_moddeling(**common)
        decode_moddeling(output_tokens=256, **common)
        runs.append(time.perf_counter() - start)
print(json.dumps(statistics.median(runs)))
"""

# Median seconds of one llm-analysis training estimate: GPT-3 175B (its megatron-lm-175b
# config) on 1,024 H100, global batch 1,536 x 2,048, tp 8 x pp 8, selective recomputation.
LLM_ANALYSIS_TRAIN = """
import json, logging, statistics, time
logging.disable(logging.CRITICAL)
import llm_analysis.analysis as analysis
runs = []
for _ in range({repeats}):
    start = time.perf_counter()
    analysis.train(model_name="megatron-lm-175b", gpu_name="h100-sxm-80gb",
                   dtype_name="w16a16e16", log_level="CRITICAL", global_batch_size=1536,
                   seq_len=2048, total_num_gpus=1024, tp_size=8, pp_size=8,
                   activation_recomputation=1, flash_attn=True)
    runs.append(time.perf_counter() - start)
print(json.dumps(statistics.median(runs)))
"""


def peer_python() -> str | None:
    """The interpreter that has the peers, or None."""
    configured = os.environ.get("TIGRIS_PEERS_PYTHON")
    if configured:
        return configured
    local = REPO / ".venv-peers" / "bin" / "python"
    return str(local) if local.exists() else None


def time_peer(script: str, repeats: int) -> float | None:
    """Median seconds the peer script reports, or None when the peers are not installed or
    the script fails (its error is printed)."""
    python = peer_python()
    if python is None:
        return None
    out = subprocess.run(
        [python, "-c", script.format(repeats=repeats)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    if out.returncode:
        print(f"  (peer failed: {out.stderr.strip().splitlines()[-1:]})")
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1]))
