"""The simulator's decode fast-forward: the run of decode-only steps before anything
changes (an arrival, a sequence finishing, the free KV blocks running out), taken in one
go with the step times summed in closed form (StepTimer.sum_decode_attention_s), instead
of one loop iteration a step. Bit for bit the steps the loop would run one by one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from tigris.parallel.step_memo import memo_enabled

if TYPE_CHECKING:
    from tigris.serving.simulator import _Replica
    from tigris.serving.step_time import StepTimer

MEMO_LIMIT = 100_000  # entries (~15 MB) a timer's decode memo holds before it starts again


@cache
def _memos() -> weakref.WeakKeyDictionary:
    """The decode-time memo of each live StepTimer (see decode_memo)."""
    return weakref.WeakKeyDictionary()


def decode_memo(timer: StepTimer) -> dict[tuple, float] | None:
    """Decode attention times by value, outside the step model: (batch, mean KV) -> one
    step's, (batch, first KV, steps) -> a run of steps' sum. Kept per timer, so every
    simulation on it (a layout search's pools, a rate search, a replay run again without
    the prefix cache) reuses them: the same decode states recur across layouts at light
    load. None under TIGRIS_NO_MEMO=1 (tigris.parallel.step_memo), which gives the same
    results, each time computed."""
    if not memo_enabled():
        return None
    memo = _memos().setdefault(timer, {})
    if len(memo) > MEMO_LIMIT:
        memo.clear()
    return memo


def decode_attention_s(
    timer: StepTimer, memo: dict[tuple, float] | None, batch: int, mean_kv: float
) -> float:
    """timer.decode_attention_s(batch, mean_kv), through the timer's decode memo."""
    if not batch or memo is None:
        return timer.decode_attention_s(batch, mean_kv)
    found = memo.get((batch, mean_kv))
    if found is None:
        found = memo[(batch, mean_kv)] = timer.decode_attention_s(batch, mean_kv)
    return found


def fast_forward(replica: _Replica, now: float, next_arrival_s: float) -> float:
    """Run, in one go, the decode-only steps before anything changes: before the next
    arrival is due, before the first sequence finishes (that step runs normally) and
    while the free blocks cover the growth. Returns the time they take (0: none)."""
    n = replica.n_run
    steps_left = replica.fewest_left() - 1
    if steps_left < 2:
        return 0.0
    kv = replica.r_kv[:n]
    growth = _Growth(kv, replica.r_blocks[:n], replica.block_size)
    k = steps_left
    if growth(k) > replica.free:
        low, high = 0, k  # growth(low) fits, growth(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            if growth(middle) <= replica.free:
                low = middle
            else:
                high = middle
        k = low
    elapsed = _elapsed(replica, n, float(replica.kv_total) / n + 1.0)
    total = elapsed(k)
    if total > next_arrival_s - now and k > 0:
        # steps that start before the arrival: the largest j with elapsed(j) < gap
        gap = next_arrival_s - now
        low, high = _bracket(elapsed, gap, k, total)
        while high - low > 1:
            middle = (low + high) // 2
            if elapsed(middle) < gap:
                low = middle
            else:
                high = middle
        k = min(high, steps_left)
    if k < 2:
        return 0.0
    replica.free -= growth(k)
    kv += k  # a view of the running KV lengths
    replica.kv_total += n * k
    replica.r_blocks[:n] = growth.blocks[k]  # the blocks after k tokens, as counted
    replica.r_left[:n] -= k
    replica.min_left = steps_left + 1 - k
    replica.steps += k
    return elapsed(k)


class _Growth:
    """New KV blocks the sequences need after k more tokens each, memoised with each
    sequence's blocks then (the search and the update ask for the same k)."""

    def __init__(self, kv: np.ndarray, blocks: np.ndarray, block_size: int) -> None:
        self.kv, self.block_size = kv, block_size
        self.held = int(blocks.sum())
        self.known: dict[int, int] = {}
        self.blocks: dict[int, np.ndarray] = {}

    def __call__(self, k: int) -> int:
        found = self.known.get(k)
        if found is None:
            after = (self.kv + (k + self.block_size - 1)) // self.block_size
            self.blocks[k] = after
            found = self.known[k] = int(after.sum()) - self.held
        return found


def _elapsed(replica: _Replica, n: int, mean_kv: float) -> Callable[[int], float]:
    """Time of j decode steps of the n running sequences from mean KV length mean_kv
    (memoised per j)."""
    timer = replica.timer
    key = (n, n)
    fixed = replica.step_fixed.get(key)
    if fixed is None:  # the one-step figure the loop caches (simulator._step_time)
        fixed = replica.step_fixed[key] = timer.tokenwise_s(n) + timer.head_s(n)
    known: dict[int, float] = {}
    memo = replica.decode_memo

    def elapsed(j: int) -> float:
        if j not in known:
            attention = None if memo is None else memo.get((n, mean_kv, j))
            if attention is None:
                attention = timer.sum_decode_attention_s(n, mean_kv, j)
                if memo is not None:
                    memo[(n, mean_kv, j)] = attention
            known[j] = j * fixed + attention
        return known[j]

    return elapsed


def _bracket(elapsed: Callable[[int], float], gap: float, k: int, total: float) -> tuple[int, int]:
    """(low, high) with elapsed(low) < gap <= elapsed(high), given elapsed(k) = total >=
    gap: guesses from the mean step time (steps grow longer with the KV cache, so the
    answer lies near gap / mean step), each checked, falling back to (0, k). elapsed is
    strictly increasing, so any such bracket bisects to the same step."""
    low, high = 0, k
    guess = min(int(gap * k / total), k - 1)
    if guess > 0:
        if elapsed(guess) < gap:
            low = guess
            if low + 1 < high and elapsed(low + 1) >= gap:
                high = low + 1
        else:
            high = guess
    return low, high
