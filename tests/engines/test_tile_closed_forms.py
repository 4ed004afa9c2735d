"""The tile engine's closed-form sums equal the loops they replace (exact integers)."""

from hypothesis import given
from hypothesis import strategies as st

from tigris.engines.tile import _causal_kv_blocks, _causal_scores, _excess_sum


@given(
    start=st.integers(0, 300),
    stop=st.integers(0, 3000),
    step=st.integers(1, 300),
    offset=st.integers(-50, 3000),
)
def test_excess_sum_equals_loop(start: int, stop: int, step: int, offset: int) -> None:
    loop = sum(max(0, j - offset) for j in range(start, stop, step))
    assert _excess_sum(start, stop, step, offset) == loop


@given(q_len=st.integers(1, 3000), extra=st.integers(0, 3000), block=st.integers(1, 300))
def test_causal_scores_equals_loop(q_len: int, extra: int, block: int) -> None:
    kv_len = q_len + extra
    offset = kv_len - q_len
    loop = sum(
        min(block, q_len - i) * min(kv_len, offset + i + block) for i in range(0, q_len, block)
    )
    assert _causal_scores(q_len, kv_len, block) == loop


@given(q_len=st.integers(1, 5000), extra=st.integers(0, 5000), block=st.integers(1, 256))
def test_causal_kv_blocks_equals_loop(q_len: int, extra: int, block: int) -> None:
    kv_len = q_len + extra
    offset = kv_len - q_len
    num_q_blocks = -(-q_len // block)
    loop = sum(-(-min(kv_len, offset + (i + 1) * block) // block) for i in range(num_q_blocks))
    assert _causal_kv_blocks(num_q_blocks, kv_len, offset, block) == loop
