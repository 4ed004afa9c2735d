"""The simulator's decode fast-forward: the run of decode-only steps before anything
changes (an arrival, a sequence finishing, the free KV blocks running out), taken in one
go with the step times summed in closed form (StepTimer.sum_decode_attention_s), instead
of one loop iteration a step. Bit for bit the steps the loop would run one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tigris.serving.simulator import _Replica


def fast_forward(replica: _Replica, now: float, next_arrival_s: float) -> float:
    """Run, in one go, the decode-only steps before anything changes: before the next
    arrival is due, before the first sequence finishes (that step runs normally) and
    while the free blocks cover the growth. Returns the time they take (0: none)."""
    n = replica.n_run
    ids = replica.r_id[:n]
    steps_left = int((replica.w.output_len[ids] - replica.generated[ids]).min()) - 1
    if steps_left < 2:
        return 0.0
    kv = replica.r_kv[:n]
    blocks = replica.r_blocks[:n]
    bs = replica.block_size

    def growth(k: int) -> int:
        return int(((kv + k + bs - 1) // bs - blocks).sum())

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
    timer = replica.timer
    fixed = timer.tokenwise_s(n) + timer.head_s(n)
    mean_kv = float(kv.sum()) / n + 1.0

    def elapsed(j: int) -> float:
        return j * fixed + timer.sum_decode_attention_s(n, mean_kv, j)

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
    replica.r_kv[:n] = kv + k
    replica.r_blocks[:n] = (replica.r_kv[:n] + bs - 1) // bs
    replica.generated[ids] += k
    replica.steps += k
    return elapsed(k)


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
