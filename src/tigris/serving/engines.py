"""Serving engine profiles (`tigris serve --engine vllm|sglang|trtllm`): each engine's
scheduler defaults, read from data/engines.yaml (every value cites the engine's code or
documentation there), mapped onto what the simulator models:

- max_num_seqs, token_budget, block_size -> the Deployment's engine limits (an unset
  max_num_seqs, SGLang's, leaves only the KV blocks as the bound);
- memory_utilization, memory_utilization_of -> the KV cache's share of device memory
  (vLLM: 0.9 of the total; TensorRT-LLM: 0.9 of what weights and activations leave free;
  SGLang: not set, the vLLM rule);
- chunked_prefill / mixed_batches -> the simulator's mode: mixed batches (decodes first,
  then prefill chunks in the rest of the budget: vLLM V1, and TensorRT-LLM's in-flight
  batching) run the chunked mode; SGLang's chunked prefill without mixing runs
  prefill-first steps (a step prefills chunks when any prompt waits, else decodes);
- preemption: recompute for all three (what the simulator does).
Settings the engines have that the simulator does not model are named in the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tigris.errors import SpecError

ENGINES_FILE = Path(__file__).parent / "data" / "engines.yaml"
UNBOUNDED_SEQS = 2**31 - 1  # no sequence limit: the KV blocks bound the batch
GIB = 2**30
MEMORY_KEYS = ("memory_utilization", "memory_utilization_of")  # optional in the YAML


@dataclass(frozen=True)
class EngineProfile:
    """One engine's scheduler settings for one chip."""

    name: str
    max_num_seqs: int
    token_budget: int
    block_size: int
    chunked_prefill: bool
    mixed_batches: bool
    preemption: str
    prefix_caching: bool
    source: str
    memory_utilization: float = 0.9  # share of device memory (serving.memory)
    memory_utilization_of: str = "total"  # ... of the total, or of what is free

    @property
    def simulator_chunked(self) -> bool:
        """The simulator's chunked mode: any step that mixes work or splits prompts."""
        return self.chunked_prefill or self.mixed_batches

    @property
    def prefill_first(self) -> bool:
        """Chunked prefill without mixed batches (SGLang's default)."""
        return self.chunked_prefill and not self.mixed_batches

    def deployment_settings(self) -> dict[str, int | float | str]:
        return {
            "max_num_seqs": self.max_num_seqs,
            "token_budget": self.token_budget,
            "block_size": self.block_size,
            "memory_utilization": self.memory_utilization,
            "memory_utilization_of": self.memory_utilization_of,
        }


@cache
def _profiles() -> dict:
    import yaml

    return yaml.safe_load(ENGINES_FILE.read_text())


def engine_names() -> tuple[str, ...]:
    return tuple(_profiles())


def load_engine(name: str, chip_memory_bytes: float) -> EngineProfile:
    """The profile of engine `name` on a chip of chip_memory_bytes (vLLM's and SGLang's
    defaults depend on the GPU's memory)."""
    raw = _profiles().get(name)
    if raw is None:
        raise SpecError(
            f"unknown engine {name[:40]!r}", key_path="--engine", hint=", ".join(engine_names())
        )
    settings = {key: raw[key] for key in ("max_num_seqs", "token_budget")}
    if "large_gpu_gib" in raw and chip_memory_bytes < raw["large_gpu_gib"] * GIB:
        settings.update(raw["small_gpu"])
    for limit_gb, budget in raw.get("token_budget_by_memory_gb", []):
        if chip_memory_bytes < float(limit_gb) * 1e9:
            settings["token_budget"] = budget
            break
    return EngineProfile(
        name=name,
        max_num_seqs=settings["max_num_seqs"] or UNBOUNDED_SEQS,
        token_budget=settings["token_budget"],
        block_size=raw["block_size"],
        chunked_prefill=raw["chunked_prefill"],
        mixed_batches=raw["mixed_batches"],
        preemption=raw["preemption"],
        prefix_caching=raw["prefix_caching"],
        source=raw["source"],
        **{key: raw[key] for key in MEMORY_KEYS if key in raw},
    )


@dataclass(frozen=True)
class ServingOptions:
    """`tigris serve`'s trace, engine and prefix-cache options (one object so that the
    API's signature stays short): the trace's format, its replay speed, length and
    sample; the engine profile; the prefix sharing model and the host KV tier."""

    trace_format: str = "auto"
    rate_scale: float | None = None
    duration_s: float | None = None
    sample: int | None = None
    engine: str | None = None
    stack: str | None = None  # tigris.hardware.stacks; names the engine when --engine is not
    prefix_share: float = 0.0
    kv_offload_gb: float = 0.0
    seed: int = 0  # of --sample

    def profile(self, chip_memory_bytes: float) -> EngineProfile | None:
        engine = self.engine
        if engine is None and self.stack is not None:
            from tigris.hardware.stacks import load_stack

            engine = load_stack(self.stack).engine
        return None if engine is None else load_engine(engine, chip_memory_bytes)

    def engine_limits(
        self, chip_memory_bytes: float, limits: dict[str, int], chunked: bool
    ) -> tuple[dict[str, int], bool]:
        """The Deployment's engine limits and the chunked mode: the profile's when an
        engine is named (it replaces --token-budget, --max-num-seqs, --block-size and
        --chunked-prefill), else the given ones."""
        profile = self.profile(chip_memory_bytes)
        if profile is None:
            return limits, chunked
        return profile.deployment_settings(), profile.simulator_chunked

    def prefix_sharing(self):  # noqa: ANN201 (a PrefixSharing; imported on use)
        from tigris.serving.prefix_cache import PrefixSharing

        return PrefixSharing(self.prefix_share, self.kv_offload_gb * 1e9)

    def simulation(self, chip_memory_bytes: float) -> dict[str, object]:
        """simulator.simulate's prefix cache and step order for these options (every
        scenario, and each pool of a disaggregated run)."""
        profile = self.profile(chip_memory_bytes)
        prefill_first = profile is not None and profile.prefill_first
        return {"prefix": self.prefix_sharing(), "prefill_first": prefill_first}


def run_replay(
    deployment,  # noqa: ANN001 (a Deployment)
    workload,  # noqa: ANN001 (a Workload)
    options: ServingOptions,
    chunked_prefill: bool,
    slo: tuple[float | None, float | None],
    progress=None,  # noqa: ANN001
    timer=None,  # noqa: ANN001 (a StepTimer; a SpeculativeTimer speculates)
) -> dict[str, object]:
    """The workload as it arrives (a trace's timestamps, or Poisson at --rate): one
    simulation, with the engine profile's prefill order and the prefix cache; when a
    cache ran, the same replay without it gives the cache's effect on TTFT and on engine
    time (the cost of a fixed fleet)."""
    from tigris.serving.scenario import summarize_run, with_cache_effect
    from tigris.serving.simulator import simulate

    settings = options.simulation(deployment.chip.dram_capacity_bytes)
    run = dict(chunked_prefill=chunked_prefill, prefill_first=settings["prefill_first"],
               timer=timer)  # fmt: skip
    result = simulate(deployment, workload, prefix=settings["prefix"], progress=progress, **run)
    summary = {"scenario": "replay", **summarize_run(result, *slo), "engine": options.engine}
    summary["engine_busy_s"] = result.busy_s
    return with_cache_effect(summary, lambda: simulate(deployment, workload, **run))
