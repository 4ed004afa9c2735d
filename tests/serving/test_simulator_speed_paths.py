"""The simulator's speed paths change no result: a replay with the step-time memo off
(a fresh StepTimer per call, TIGRIS_NO_MEMO) and on (the process's timer of an equal
deployment, already warm from an earlier replay) gives bit-identical request times, KV
traces and counts, colocated with and without chunked prefill and the prefix cache."""

from __future__ import annotations

import numpy as np
import pytest

from tigris.parallel.step_memo import no_memo
from tigris.serving import build_deployment
from tigris.serving.prefix_cache import PrefixSharing
from tigris.serving.requests import shape_workload
from tigris.serving.simulator import simulate
from tigris.serving.trace import read_trace


def _same(a, b) -> None:  # noqa: ANN001
    for name in ("first_token_s", "finish_s", "kv_time_s", "kv_occupancy"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("num_steps", "num_preemptions", "busy_s", "kv_mean_occupancy", "prefix_cache"):
        assert getattr(a, name) == getattr(b, name), name


@pytest.mark.parametrize(
    "run",
    [{}, {"chunked_prefill": True}, {"prefix": PrefixSharing(0.3)}],
    ids=["whole", "chunked", "prefix"],
)
def test_memo_off_and_on_give_the_same_replay(run):
    deployment = build_deployment("llama3-8b", "h100-sxm", num_chips=2, tp=1)  # 2 replicas
    trace = shape_workload(read_trace("azure-conv"), duration_s=60.0, rate_scale=4.0)
    with no_memo():
        cold = simulate(deployment, trace, **run)
    simulate(deployment, trace, **run)  # warms the shared timer
    warm = simulate(deployment, trace, **run)
    _same(cold, warm)
    assert cold.num_steps > 500 and np.all(np.isfinite(warm.finish_s))
