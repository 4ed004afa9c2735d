"""The one-pool simulator conserves requests, tokens and KV blocks, and the same seed gives
the same result: hypothesis over random small workloads, whole or chunked prefill, with
preemption (a KV cache of a few hundred blocks) and prefix sharing. Tokens are counted
where the scheduler emits them: a prefill's first (or, after preemption by recompute, next)
token, one per decoding sequence per step, and the decode fast-forward's steps."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tigris.serving import build_deployment
from tigris.serving.prefix_cache import PrefixSharing, make_cache
from tigris.serving.requests import synthetic_workload
from tigris.serving.simulator import _fitting_memory_plan, _Replica, simulate
from tigris.serving.step_time import shared_timer

# little memory left for the KV cache: long requests preempt each other
DEPLOYMENT = build_deployment("llama3-8b", "h100-sxm", memory_utilization=0.25)


class _Counting(_Replica):
    """A replica that counts the tokens it emits."""

    emitted_tokens = 0

    def _emit_after_prefill(self, rid: int, kv: int, blocks: int, now: float) -> None:
        self.emitted_tokens += 1
        super()._emit_after_prefill(rid, kv, blocks, now)

    def _retire_decoded(self, n_dec: int, now: float) -> None:
        self.emitted_tokens += n_dec
        super()._retire_decoded(n_dec, now)

    def _fast_forward(self, now: float, next_arrival_s: float) -> float:
        steps = self.steps
        skipped = super()._fast_forward(now, next_arrival_s)
        self.emitted_tokens += (self.steps - steps) * self.n_run
        return skipped


workloads = st.builds(
    lambda n, prompt, output, rate, seed, dist: synthetic_workload(
        n, prompt, output, rate_per_s=rate, seed=seed, length_dist=dist
    ),
    st.integers(1, 40),
    st.integers(16, 4000),
    st.integers(1, 1500),
    st.one_of(st.none(), st.floats(0.5, 50.0)),
    st.integers(0, 2**16),
    st.sampled_from(["fixed", "uniform", "exponential", "lognormal"]),
)


def _fits(workload) -> bool:  # noqa: ANN001
    """The longest request fits the KV cache (else the run is refused, InfeasibleError)."""
    plan = _fitting_memory_plan(DEPLOYMENT, workload, True)
    longest = int(np.max(workload.input_len + workload.output_len))
    return -(-longest // plan.block_size) <= plan.num_blocks and longest <= 8192


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workload=workloads, chunked=st.booleans(), share=st.sampled_from([0.0, 0.5]))
def test_requests_tokens_and_blocks_are_conserved(workload, chunked, share):
    assume(_fits(workload))
    plan = _fitting_memory_plan(DEPLOYMENT, workload, chunked)
    cache = make_cache(PrefixSharing(share), workload, plan, DEPLOYMENT)
    replica = _Counting(
        workload, shared_timer(DEPLOYMENT), plan, chunked_prefill=chunked, record_kv=True,
        progress=None, prefix_cache=cache,
    )  # fmt: skip
    outcome = replica.run()
    event("preempted" if replica.preemptions else "not preempted")
    assert replica.done == workload.num_requests and replica.n_run == 0
    assert np.all(np.isfinite(outcome.finish_s))
    assert np.all(outcome.first_token_s >= workload.arrival_s)
    assert np.all(outcome.finish_s >= outcome.first_token_s)
    assert replica.emitted_tokens == int(workload.output_len.sum())
    # every KV block is back: free, or (with the cache) cached and unheld
    assert replica.free == replica.total_blocks
    assert np.all(outcome.occupancy <= 1.0) and np.all(outcome.occupancy >= 0.0)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workload=workloads, chunked=st.booleans())
def test_the_same_workload_gives_the_same_result(workload, chunked):
    assume(_fits(workload))
    first, again = (simulate(DEPLOYMENT, workload, chunked_prefill=chunked) for _ in range(2))
    for name in ("first_token_s", "finish_s", "kv_time_s", "kv_occupancy"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert (first.num_steps, first.num_preemptions) == (again.num_steps, again.num_preemptions)
