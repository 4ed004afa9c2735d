"""Throughput-benchmark rows (data/measured-tpu-inference.csv): JetStream on TPU v5e.

A JetStream row is a `benchmark_serving.py` run (AI-Hypercomputer/JetStream
benchmarks/benchmark_serving.py, as jetstream-pytorch benchmarks/summary.md runs it):
`--num-prompts 2000 --dataset sharegpt`, the default `--request-rate inf` (every request
at time 0), each request asking for its reference answer's length (`max_tokens =
output_len` when `--max-output-length` is not given). The script keeps ShareGPT pairs with
4 <= prompt <= 1024 tokens, output >= 4 and prompt + output <= 2048. The server runs
`--batch_size` decode slots (the row's batch) with the model sharded over the 8 chips of a
v5e-8 ("model parallel"; only Gemma 2B ran --shard_on_batch). The figure is output
tokens/s of the whole host.

Here: JetStream's serving loop as jetstream-pytorch runs it (mechanisms, each sourced;
nothing fitted), timed with the serving step model (tigris.serving.step_time.StepTimer) on
tpu-v5e, and the step counts from the requests' lengths:
- Dense KV cache: every decode slot owns a (heads, max_cache_length, head_dim) cache line
  per layer, allocated whole at start-up (jetstream_pt/cache_manager.py KVCacheGenerate /
  Int8KVCacheGenerate .empty(shape)), and the compiled generate step attends over all of
  it, masked: each step reads batch x cache_length keys and values whatever the
  sequences' lengths (the published batches are the largest whose dense cache fits 16 GB:
  e.g. Llama 2 7B bf16, 96 x 2048 x 512 KiB / 8 chips + weights = 14.6 GB a chip).
- Fixed-shape generate step: all `--batch_size` slots are computed every step, filled or
  not (one XLA program for the whole batch); a slot frees when its request ends and takes
  the next prefilled request (list scheduling of the output lengths over the slots).
- Prefill one request at a time, padded to the next power of two (JetStream
  core/token_utils.py DEFAULT_PREFILL_BUCKETS 16, 32, ..., capped at max_prefill_length
  1024), on the same chips as decode (the orchestrator's interleaved mode: prefill and
  generate share the devices, so their times add).
- --shard_on_batch (Gemma 2B): the model replicated on every chip, the slots split over
  them; a one-request prefill cannot be split by batch, so it runs whole.
int8 rows run int8 weights and KV cache with bf16 compute (jetstream-pytorch's
--quantize_weights --quantize_kv_cache are weight-only int8).

Lengths: JetStream publishes no mean prompt or output length for these runs. ShareGPT's
means as the vLLM paper reports them (Kwon et al., SOSP 2023, Fig. 11a, LLaMA tokenizer:
input 161.31, output 337.99 tokens; read from the figure, not re-checked here against
JetStream's filter) are taken, uniform around them: an assumption, stated in every row's
result. The result moves by about 10 % when both means move by 25 %.

MLPerf GPT-J rows are not scored: the benchmark decodes with beam search (num_beams 4,
min_new_tokens 30, max_new_tokens 128, early stopping: mlcommons/inference
language/gpt-j/backend_PyTorch.py gen_kwargs), which the simulator does not model, and
neither the CNN-DailyMail prompt mean nor Google's Saxml layout over the 4 chips is
published.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import replace
from functools import lru_cache

import numpy as np

from tigris.hardware.presets import load_chip
from tigris.hardware.system import Cluster
from tigris.serving.deployment import Deployment
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.spec import TransformerSpec

# one-host v5e slices (chips: ICI shape), cloud.google.com/tpu/docs/v5e "serving" types
SLICE_SHAPES = {4: (2, 2), 8: (4, 2)}
# JetStream core/token_utils.py DEFAULT_PREFILL_BUCKETS up to max_prefill_length 1024
PREFILL_BUCKETS = (16, 32, 64, 128, 256, 512, 1024)
JETSTREAM_PROMPTS = 2000  # benchmark_serving.py --num-prompts 2000 (summary.md)
SHAREGPT_MEAN_INPUT = 161  # Kwon et al. 2023 Fig. 11a (assumption: see above)
SHAREGPT_MEAN_OUTPUT = 338
LENGTH_ASSUMPTION = (
    f"ShareGPT means assumed {SHAREGPT_MEAN_INPUT} in / {SHAREGPT_MEAN_OUTPUT} out "
    "(vLLM paper Fig. 11a; JetStream publishes none)"
)


class NotModelled(Exception):
    """A throughput row this module cannot run, with the reason."""


def is_throughput_row(row: dict[str, str]) -> bool:
    """Rows this module answers for: JetStream benchmarks and MLPerf GPT-J."""
    mlperf_gptj = "GPT-J" in row["model"] and "MLPerf" in row["source"]
    return "jetstream" in row["source"].lower() or mlperf_gptj


def throughput_family(row: dict[str, str]) -> str | None:
    """The source family of a JetStream row (None for other rows)."""
    return "JetStream" if "jetstream" in row["source"].lower() else None


def _jetstream_model(name: str) -> TransformerSpec:
    for prefix, model in (
        ("Llama 2 7B", "llama2-7b"),
        ("Llama 2 13B", "llama2-13b"),
        ("Llama 3 8B", "llama3-8b"),
        ("Gemma 7B", "gemma-7b"),
    ):
        if name.startswith(prefix):
            return load_model(model)
    if name.startswith("Gemma 2B"):
        return _gemma_2b()
    raise NotModelled(f"no spec for JetStream model {name[:40]!r}")


def _gemma_2b() -> TransformerSpec:
    """Gemma 2B (huggingface.co/google/gemma-2b config.json: 18 layers, hidden 2048, 8
    heads of 256, 1 KV head, GeGLU 16384, vocab 256000): Gemma 7B's architecture."""
    return load_model("gemma-7b").model_copy(
        update={
            "name": "gemma-2b",
            "hidden_size": 2048,
            "num_layers": 18,
            "num_heads": 8,
            "num_kv_heads": 1,
            "ffn_hidden_size": 16384,
        }
    )


def _precision(text: str) -> Precision:
    if text.startswith("int8"):
        return Precision(compute_dtype="bf16", weight_dtype="int8", kv_cache_dtype="int8")
    return Precision(compute_dtype="bf16")


def _cache_length(row: dict[str, str]) -> int:
    """The row's max_cache_length ('... (cache N)' in seq_len)."""
    match = re.search(r"cache (\d+)", row["seq_len"])
    if match is None:
        raise NotModelled(f"no cache length in {row['seq_len'][:40]!r}")
    return int(match.group(1))


def prefill_bucket(prompt_len: int) -> int:
    """The padded length JetStream prefills a prompt at: the next bucket, at most the
    largest (prompts longer than max_prefill_length are cut by the benchmark's filter)."""
    for bucket in PREFILL_BUCKETS:
        if prompt_len <= bucket:
            return bucket
    return PREFILL_BUCKETS[-1]


def decode_steps(output_lens: np.ndarray, slots: int) -> int:
    """Generate steps until every request is done: requests in order take the first free
    slot and hold it for output_len - 1 steps (prefill emits the first token)."""
    free_at = [0] * min(slots, len(output_lens))
    for length in output_lens:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + max(int(length) - 1, 0))
    return max(free_at)


@lru_cache(maxsize=64)
def _jetstream_tokens_per_s(
    model: str,
    chip_id: str,
    tp: int,
    dp: int,
    batch: int,
    precision: str,
    cache: int,
    mean_in: int,
    mean_out: int,
) -> float:
    from tigris.serving.requests import synthetic_workload
    from tigris.serving.step_time import shared_timer

    deployment = Deployment(
        _jetstream_model(model),
        load_chip(chip_id),
        num_chips=tp,
        tp=tp,
        precision=_precision(precision),
        max_num_seqs=batch // dp,
    )
    deployment = replace(deployment, cluster=host_slice(deployment))
    timer = shared_timer(deployment)
    workload = synthetic_workload(
        JETSTREAM_PROMPTS, mean_in, mean_out, rate_per_s=None, seed=0, length_dist="uniform"
    )
    buckets = Counter(prefill_bucket(int(length)) for length in workload.input_len)
    prefill_s = sum(count * timer.prefill_step_s(1, size) for size, count in buckets.items())
    step_s = timer.decode_step_s(batch // dp, cache)
    total_s = prefill_s + decode_steps(workload.output_len, batch) * step_s
    return float(workload.output_len.sum()) / total_s


def host_slice(deployment: Deployment) -> Cluster | None:
    """The one-host slice a row ran on: v5e-4 is a 2x2 and v5e-8 a 2x4 slice of ICI
    (cloud.google.com/tpu/docs/v5e, slice shapes for serving), a torus of its own
    without wraparound links, not a line of a 16 x 16 pod's torus."""
    cluster = deployment.system
    shape = SLICE_SHAPES.get(deployment.tp)
    if cluster is None or shape is None or cluster.node.scale_up.topology != "torus":
        return cluster
    scale_up = cluster.node.scale_up.model_copy(
        update={"torus_dims": list(shape), "wraparound": False, "num_chips": deployment.tp}
    )
    node = cluster.node.model_copy(update={"scale_up": scale_up})
    return cluster.model_copy(update={"node": node})


def _layout(row: dict[str, str]) -> tuple[int, int]:
    """(tp, dp) of a row: model parallel over its chips, or data parallel (dp column)."""
    chips = int(row["num_chips"])
    dp = int(row["dp"] or 1)
    if chips % dp:
        raise NotModelled(f"dp {dp} does not divide {chips} chips")
    return chips // dp, dp


def predict_throughput_row(
    row: dict[str, str],
    chip_id: str,
    mean_in: int = SHAREGPT_MEAN_INPUT,
    mean_out: int = SHAREGPT_MEAN_OUTPUT,
) -> float:
    """Output tokens/s of a JetStream row; NotModelled (with why) for the rest."""
    if "GPT-J" in row["model"]:
        raise NotModelled(
            "MLPerf GPT-J: beam search (4 beams) not modelled; CNN-DM prompt mean and "
            "the Saxml layout unpublished"
        )
    batch = int(row["global_batch_tokens_or_seqs"].split()[-1])
    tp, dp = _layout(row)
    return _jetstream_tokens_per_s(
        row["model"],
        chip_id,
        tp,
        dp,
        batch,
        row["precision"],
        _cache_length(row),
        mean_in,
        mean_out,
    )
