"""The tile engine's closed-form sums equal the loops they replace (exact integers)."""

from hypothesis import given
from hypothesis import strategies as st

from tigris.engines.tile.attention import _causal_kv_blocks, _causal_scores, _excess_sum


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


def test_weight_stationary_cores_split_as_a_grid() -> None:
    """Hand-worked WS cycles on 128 x 128 arrays, one array per core (a fold streams its
    M share through in share + 2R + C - 2 cycles; the count ends one short)."""
    from tigris.engines.tile.systolic import _parallel_cycles

    # 2 cores, one K fold, two column tiles: a tile per core, all 128 rows: 128+382 = 510
    assert _parallel_cycles(128, 256, 128, 128, 128, 2, 1, "ws") == (509, "folds")
    # 2 cores, one column tile, two K folds: M split in 128-row shares, 2 folds of 510
    assert _parallel_cycles(256, 128, 256, 128, 128, 2, 1, "ws") == (1019, "folds")
    # 4 cores as 2 row shares x 2 column groups: one fold of 256 + 382 rows each, where
    # dealing the 2 folds over 4 arrays (no grid) keeps all 512 rows per fold: 893
    assert _parallel_cycles(512, 256, 128, 128, 128, 4, 1, "ws") == (637, "folds")
