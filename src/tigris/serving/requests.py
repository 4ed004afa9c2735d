"""Requests: arrival time, prompt length, output length; and how workloads generate them.

Arrivals: Poisson at a rate (exponential gaps), or all at once (time 0). Lengths: fixed,
or drawn around a mean: uniform on [1, 2 mean - 1], exponential (at least 1), or
lognormal with sigma 1 (the heavy tail of chat traces), all with the given mean.
Everything is drawn from numpy's PCG64 generator seeded with `seed`: same seed, same run.
A trace's requests can be replayed faster or slower (`rate_scale`), cut to their first
seconds (`duration_s`) and sampled (`sample`, with the seed): `shape_workload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tigris.errors import SpecError

LengthDist = Literal["fixed", "uniform", "exponential", "lognormal"]
LENGTH_DISTS = ("fixed", "uniform", "exponential", "lognormal")
LOGNORMAL_SIGMA = 1.0


@dataclass(frozen=True)
class Workload:
    """Requests as parallel arrays, sorted by arrival."""

    arrival_s: np.ndarray  # float64
    input_len: np.ndarray  # int64
    output_len: np.ndarray  # int64
    # per request, the ids of its prompt's blocks of hash_block_tokens tokens (a trace's
    # hash_ids, Mooncake style; equal ids = the same prefix); None when the trace has none
    prefix_hashes: np.ndarray | None = None  # object array of tuples of ints
    hash_block_tokens: int = 0

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.input_len) != n or len(self.output_len) != n:
            raise SpecError("arrival, input and output arrays differ in length")
        if n == 0:
            raise SpecError("the workload has no requests", key_path="--num-requests")

    @property
    def num_requests(self) -> int:
        return len(self.arrival_s)

    def subset(self, index: np.ndarray | slice) -> Workload:
        """The requests at `index` (a slice gives views of these arrays, no copy)."""
        hashes = None if self.prefix_hashes is None else self.prefix_hashes[index]
        return Workload(
            self.arrival_s[index],
            self.input_len[index],
            self.output_len[index],
            hashes,
            self.hash_block_tokens,
        )

    def with_arrivals(self, arrival_s: np.ndarray) -> Workload:
        """The same requests (lengths, prefixes) arriving at arrival_s."""
        return Workload(
            arrival_s, self.input_len, self.output_len, self.prefix_hashes, self.hash_block_tokens
        )


def draw_lengths(
    rng: np.random.Generator, mean: int, count: int, dist: LengthDist, key: str
) -> np.ndarray:
    if mean < 1:
        raise SpecError(f"must be a positive integer, got {mean}", key_path=key)
    if dist == "fixed":
        return np.full(count, mean, dtype=np.int64)
    if dist == "uniform":
        values = rng.integers(1, 2 * mean, size=count, endpoint=False)
    elif dist == "exponential":
        values = np.ceil(rng.exponential(mean, size=count))
    elif dist == "lognormal":
        mu = np.log(mean) - LOGNORMAL_SIGMA**2 / 2
        values = np.ceil(rng.lognormal(mu, LOGNORMAL_SIGMA, size=count))
    else:
        raise SpecError(
            f"unknown length distribution {dist!r}", key_path=key, hint=", ".join(LENGTH_DISTS)
        )
    return np.maximum(values, 1).astype(np.int64)


def synthetic_workload(
    num_requests: int,
    input_len: int,
    output_len: int,
    *,
    rate_per_s: float | None,
    seed: int = 0,
    length_dist: LengthDist = "fixed",
) -> Workload:
    """Poisson arrivals at rate_per_s (None: all at time 0) with drawn lengths."""
    if num_requests < 1:
        raise SpecError(
            f"must be a positive integer, got {num_requests}", key_path="--num-requests"
        )
    rng = np.random.default_rng(seed)
    if rate_per_s is None:
        arrival = np.zeros(num_requests)
    else:
        if not rate_per_s > 0:
            raise SpecError(f"must be positive, got {rate_per_s}", key_path="--rate")
        arrival = np.cumsum(rng.exponential(1.0 / rate_per_s, size=num_requests))
    inputs = draw_lengths(rng, input_len, num_requests, length_dist, "--input-len")
    outputs = draw_lengths(rng, output_len, num_requests, length_dist, "--output-len")
    return Workload(arrival, inputs, outputs)


def with_poisson_arrivals(workload: Workload, rate_per_s: float, seed: int = 0) -> Workload:
    """The same lengths arriving as a Poisson process at rate_per_s."""
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate_per_s, size=workload.num_requests))
    return workload.with_arrivals(arrival)


def shape_workload(
    workload: Workload,
    *,
    rate_scale: float | None = None,
    duration_s: float | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> Workload:
    """A trace replayed rate_scale times as fast (gaps divided by it, from the first
    arrival), its first duration_s seconds (of the replay), then `sample` of those
    requests drawn without replacement with the seed (kept in arrival order)."""
    for value, key in ((rate_scale, "--rate-scale"), (duration_s, "--duration")):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise SpecError(f"must be a positive, finite number, got {value}", key_path=key)
    if sample is not None and sample < 1:
        raise SpecError(f"must be a positive integer, got {sample}", key_path="--sample")
    if rate_scale is not None and rate_scale != 1:
        start = workload.arrival_s[0]
        workload = workload.with_arrivals(start + (workload.arrival_s - start) / rate_scale)
    if duration_s is not None:
        kept = int(np.searchsorted(workload.arrival_s, workload.arrival_s[0] + duration_s))
        if kept == 0:
            raise SpecError(
                f"no request arrives in the first {duration_s} s", key_path="--duration"
            )
        workload = workload.subset(slice(kept))
    if sample is not None and sample < workload.num_requests:
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(workload.num_requests, size=sample, replace=False))
        workload = workload.subset(picked)
    return workload
