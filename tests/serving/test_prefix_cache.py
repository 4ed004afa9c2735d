"""Prefix caching: hits skip prefill, share 0 is exactly no cache, a hit never raises an
isolated request's TTFT, Mooncake hash ids give hits, LRU eviction to a host tier; and the
simulator's properties (requests and tokens conserved, same seed same result)."""

from __future__ import annotations

import numpy as np
import pytest

from tigris.errors import SpecError
from tigris.serving import build_deployment
from tigris.serving.prefix_cache import PrefixCache, PrefixSharing, host_link_bytes_per_s
from tigris.serving.requests import Workload, shape_workload
from tigris.serving.simulator import simulate
from tigris.serving.trace import read_trace


@pytest.fixture(scope="module")
def deployment():
    return build_deployment("llama3-8b", "h100-sxm", num_chips=1)


@pytest.fixture(scope="module")
def code():
    return shape_workload(read_trace("azure-code"), duration_s=300.0, rate_scale=2.0)


@pytest.mark.parametrize("chunked", [False, True])
def test_share_zero_is_exactly_no_cache(deployment, code, chunked):
    plain = simulate(deployment, code, chunked_prefill=chunked)
    zero = simulate(deployment, code, chunked_prefill=chunked, prefix=PrefixSharing(0.0))
    assert np.array_equal(plain.first_token_s, zero.first_token_s)
    assert np.array_equal(plain.finish_s, zero.finish_s)
    assert zero.prefix_cache is None


@pytest.mark.parametrize("chunked", [False, True])
def test_a_hit_never_raises_an_isolated_requests_ttft(deployment, chunked):
    # one request at a time (a minute apart): each TTFT is its own prefill's
    trace = shape_workload(read_trace("azure-code"), sample=60, seed=1)
    spaced = trace.with_arrivals(np.arange(trace.num_requests) * 60.0)
    plain = simulate(deployment, spaced, chunked_prefill=chunked)
    cached = simulate(deployment, spaced, chunked_prefill=chunked, prefix=PrefixSharing(0.6))
    ttft_plain = plain.first_token_s - spaced.arrival_s
    ttft_cached = cached.first_token_s - spaced.arrival_s
    assert np.all(ttft_cached <= ttft_plain * (1 + 1e-12))
    assert np.mean(ttft_cached < ttft_plain) > 0.8  # short prompts share no full block
    assert cached.prefix_cache["hit_rate"] > 0.5


def test_conservation_and_determinism(deployment, code):
    runs = [simulate(deployment, code, prefix=PrefixSharing(0.3)) for _ in range(2)]
    for result in runs:
        assert np.all(np.isfinite(result.finish_s))  # every request finishes
        assert np.all(result.first_token_s >= code.arrival_s)
        assert np.all(result.finish_s >= result.first_token_s)
    assert np.array_equal(runs[0].finish_s, runs[1].finish_s)
    assert runs[0].prefix_cache == runs[1].prefix_cache
    stats = runs[0].prefix_cache
    assert stats["lookup_tokens"] >= int(code.input_len.sum())  # every prompt looked up


def test_mooncake_hash_ids_give_hits(deployment):
    ids = [(0, 1, 2), (0, 1, 3), (0, 1, 2), (9,)]
    workload = Workload(
        np.arange(4) * 30.0,
        np.array([1536, 1536, 1536, 512]),
        np.array([4, 4, 4, 4]),
        prefix_hashes=np.array(ids + [()], dtype=object)[:4],
        hash_block_tokens=512,
    )
    result = simulate(deployment, workload, prefix=PrefixSharing())
    # request 2 finds 1024 tokens (ids 0, 1), request 3 all 1536 but the last token
    assert result.prefix_cache["hit_tokens"] == 1024 + 1535


def test_lru_eviction_moves_blocks_to_host_and_back():
    cache = PrefixCache(
        block_size=16, input_len=np.array([64, 64]), share=1.0, host_blocks=8,
        reload_s_per_block=1e-3,
    )  # fmt: skip
    assert cache.lookup(0, 64, free=10) == (0, 0)
    cache.acquire(0, 64)
    assert cache.release(0) == 0  # its 4 keyed blocks come back as cached free blocks
    cache.trim(free=1)  # the pool needs 3 of them: the least recently released go to host
    assert cache.stats.evicted_blocks == 3 and len(cache.host) == 3
    assert cache.lookup(1, 64, free=10) == (63, 0)
    assert cache.acquire(1, 64) == pytest.approx(3e-3)  # three blocks reloaded


def test_host_link_bandwidth_from_the_chip_preset():
    assert host_link_bytes_per_s("PCIe Gen5 x16", "h100") == pytest.approx(63.0e9, rel=0.01)
    assert host_link_bytes_per_s("NVLink-C2C to Grace CPU (900 GB/s both ways)", "g") == 450e9
    with pytest.raises(SpecError, match="--kv-offload-gb"):
        host_link_bytes_per_s(None, "x")


def test_bad_share_names_the_option():
    with pytest.raises(SpecError, match="--prefix-share"):
        PrefixSharing(1.5)
