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

Here: the serving simulator (tigris.serving.simulator) on tpu-v5e, tp = the row's chips,
max_num_seqs = the row's batch, the 2000 requests at time 0, whole-prompt prefills;
int8 rows run int8 weights and KV cache with bf16 compute (jetstream-pytorch's
--quantize_weights --quantize_kv_cache are weight-only int8). Nothing is fitted.

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

from functools import lru_cache

from tigris.hardware.presets import load_chip
from tigris.serving.deployment import Deployment
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.spec import TransformerSpec

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
    raise NotModelled(f"no spec for JetStream model {name[:40]!r}")


def _precision(text: str) -> Precision:
    if text.startswith("int8"):
        return Precision(compute_dtype="bf16", weight_dtype="int8", kv_cache_dtype="int8")
    return Precision(compute_dtype="bf16")


@lru_cache(maxsize=32)
def _jetstream_tokens_per_s(
    model: str, chip_id: str, chips: int, batch: int, precision: str, mean_in: int, mean_out: int
) -> float:
    from tigris.serving.requests import synthetic_workload
    from tigris.serving.scenario import run_offline

    deployment = Deployment(
        _jetstream_model(model),
        load_chip(chip_id),
        num_chips=chips,
        tp=chips,
        precision=_precision(precision),
        max_num_seqs=batch,
    )
    workload = synthetic_workload(
        JETSTREAM_PROMPTS, mean_in, mean_out, rate_per_s=None, seed=0, length_dist="uniform"
    )
    return float(run_offline(deployment, workload)["throughput_tokens_per_s"])  # type: ignore[arg-type]


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
    return _jetstream_tokens_per_s(
        row["model"], chip_id, int(row["num_chips"]), batch, row["precision"], mean_in, mean_out
    )
