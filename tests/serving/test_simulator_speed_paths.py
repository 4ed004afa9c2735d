"""The simulator's speed paths change no result: a replay with the step-time memo off
(a fresh StepTimer per call, TIGRIS_NO_MEMO) and on (the process's timer of an equal
deployment, already warm from an earlier replay) gives bit-identical request times, KV
traces and counts, colocated with and without chunked prefill and the prefix cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tigris.parallel.step_memo import no_memo
from tigris.serving import build_deployment
from tigris.serving.prefix_cache import PrefixSharing, make_cache
from tigris.serving.requests import shape_workload, synthetic_workload
from tigris.serving.simulator import _fitting_memory_plan, _Replica, simulate
from tigris.serving.step_time import (
    EXACT_KV,
    KV_GRID_PER_OCTAVE,
    StepTimer,
    interpolate,
    shared_timer,
)
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


# little memory left for the KV cache: long requests preempt each other
TIGHT = build_deployment("llama3-8b", "h100-sxm", memory_utilization=0.25)


class _Checked(_Replica):
    """A replica that checks, before each step and fast-forward, that the Python ints it
    keeps beside the running array (its KV total, the fewest tokens left) match it."""

    checks = 0

    def _check(self) -> None:
        n = self.n_run
        assert self.kv_total == int(self.r_kv[:n].sum())
        if n:
            assert self.min_left in (None, int(self.r_left[:n].min()))
        self.checks += 1

    def _step_time(self, chunks, n_dec, mean_kv, n_emit_prefill):  # noqa: ANN001, ANN202
        self._check()
        if n_dec:
            assert mean_kv == float(self.r_kv[:n_dec].sum()) / n_dec
        return super()._step_time(chunks, n_dec, mean_kv, n_emit_prefill)

    def _fast_forward(self, now: float, next_arrival_s: float) -> float:
        self._check()
        return super()._fast_forward(now, next_arrival_s)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("share", [0.0, 0.5], ids=["no-prefix", "prefix"])
def test_running_totals_match_the_running_array(chunked, share):
    workload = synthetic_workload(40, 3000, 1200, rate_per_s=20.0, seed=3, length_dist="uniform")
    plan = _fitting_memory_plan(TIGHT, workload, chunked)
    replica = _Checked(
        workload, shared_timer(TIGHT), plan, chunked_prefill=chunked, record_kv=True,
        progress=None, prefix_cache=make_cache(PrefixSharing(share), workload, plan, TIGHT),
    )  # fmt: skip
    replica.run()
    assert replica.preemptions > 0 and replica.checks > 100
    assert replica.done == workload.num_requests and replica.kv_total == 0


def test_preempting_replay_is_the_same_with_memo_off_and_on():
    workload = synthetic_workload(40, 3000, 1200, rate_per_s=20.0, seed=3, length_dist="uniform")
    with no_memo():
        cold = simulate(TIGHT, workload)
    simulate(TIGHT, workload)
    warm = simulate(TIGHT, workload)
    _same(cold, warm)
    assert cold.num_preemptions > 0


def test_decode_attention_is_the_interpolation_of_exact_times():
    """decode_attention_s is interpolate() over _decode_exact, bit for bit, on grid
    points, between them and across octaves; a run's closed-form sum is the sum of its
    steps' times (to rounding)."""
    timer = StepTimer(build_deployment("llama3-70b", "h100-sxm", num_chips=8))
    for batch in (1, 7, 64):
        for kv in (1, 5.5, 63.75, 64, 65.25, 127.5, 128, 1000.3, 4095.9, 4096, 70000.1):
            exact = interpolate(
                lambda k, b=batch: timer._decode_exact(b, k), kv, EXACT_KV, KV_GRID_PER_OCTAVE
            )
            assert timer.decode_attention_s(batch, kv) == exact
        steps = [timer.decode_attention_s(batch, 60.5 + j) for j in range(300)]
        assert timer.sum_decode_attention_s(batch, 60.5, 300) == pytest.approx(sum(steps), 1e-12)


def test_cli_replay_is_the_same_with_memo_off(tmp_path):
    """Through the CLI in fresh processes: TIGRIS_NO_MEMO=1 gives the same JSON."""
    args = [sys.executable, "-m", "tigris", "serve", "llama3-8b", "--chip", "h100-sxm",
            "--trace", "azure-conv", "--scenario", "replay", "--duration", "120", "--json",
            "--quiet"]  # fmt: skip
    outputs = []
    for no_memo_env in ("1", ""):
        env = os.environ | {"TIGRIS_NO_MEMO": no_memo_env}
        run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-500:]
        outputs.append(json.loads(run.stdout))
    assert outputs[0] == outputs[1] and outputs[0]["num_requests"] > 100
    assert list(tmp_path.iterdir()) == []
