"""Pipeline stages: how many layers each stage holds, and of which kinds.

A plan splits the layers evenly (`pp_layers` None: pp divides the layers) or by an
explicit list of per-stage counts (`--pp-layers 7,14,...`, or the split the plan search
proposes). The search tries, for each pp:
- the even split, when pp divides the layers;
- the Megatron-LM / Llama 3 split, which counts the embedding and the LM head as one
  layer each (Megatron-LM's --account-for-embedding-in-pipeline-split and
  --account-for-loss-in-pipeline-split): when pp divides layers + 2, every stage holds
  (layers + 2) / pp layers but the first and the last, which hold one fewer. Llama 3.1
  405B's 126 layers at pp 16 are 7 + 14 x 8 + 7 (Dubey et al. 2024, Sec. 3.3.2: "we
  reduce one Transformer layer each from the first and the last stages").
- otherwise (any pp up to the layers), the uneven split (`uneven_split`): every stage
  holds ceil(layers / pp) layers or one fewer, the one-fewer stages taken from the model
  ends inwards (first, last, then the stages beside the last and the first in turn), as
  Megatron-LM's --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers
  lighten the stages holding the embedding and the head. DeepSeek-V3's 61 layers at pp 16
  are 3 + 4 x 13 + 3 + 3. Where pp divides layers + 2 it is the balanced split.
Layers are assigned in order (`TransformerSpec.layer_sequence()`), so DeepSeek-V3's three
dense layers land on the first stage. Interleaved schedules (virtual stages v > 1) split
each stage's layers into v model chunks, stage s running the model's chunks s, s + pp, ...
(Narayanan et al. 2021, Sec. 2.2.2), as evenly as possible; a stage holding fewer layers
than its chunks' share gives the shortfall to the chunk beside the model end it holds:
the first chunk of the first stage (with the embedding) and the last chunk of the last
stage (with the head) hold one layer fewer, as Llama 3 ran it ("the first model chunk on
the first stage has only the embedding"). The search tries, on the balanced split, the v
that divide (layers + 2) / pp, so every other chunk holds the same layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.errors import SpecError
from tigris.workload.spec import TransformerSpec

PP_LAYERS_OPTION = "--pp-layers"


@dataclass(frozen=True, slots=True)
class StageGroup:
    """Stages that hold the same layers (per kind): `kinds[k]` layers of the model's k-th
    kind (`spec.layer_kinds()` order), `moe_layers` of them MoE; `ends` says which model
    ends each of these stages holds: 0 none, 1 the embedding, 2 the LM head, 3 both."""

    kinds: tuple[int, ...]
    layers: int
    moe_layers: int
    ends: frozenset[int]
    first_stage: int  # the lowest stage index of the group (most micro-batches in flight)


def even_split(num_layers: int, pp: int) -> tuple[int, ...] | None:
    """pp stages of num_layers / pp layers, or None when pp does not divide them."""
    if num_layers % pp:
        return None
    return (num_layers // pp,) * pp


def balanced_split(num_layers: int, pp: int) -> tuple[int, ...] | None:
    """The Megatron-LM / Llama 3 split (module docstring), or None where it does not apply
    (pp < 3, pp not dividing layers + 2, or a first stage left with no layer)."""
    per_stage, rest = divmod(num_layers + 2, pp)
    if pp < 3 or rest or per_stage < 2:
        return None
    return (per_stage - 1, *(per_stage,) * (pp - 2), per_stage - 1)


def uneven_split(num_layers: int, pp: int) -> tuple[int, ...] | None:
    """ceil(layers / pp) layers a stage, one fewer on as many stages as that overshoots,
    taken from the ends inwards: the first, the last, the one before the last, the
    second, ... (module docstring). None when pp exceeds the layers."""
    if not 1 <= pp <= num_layers:
        return None
    per_stage = -(-num_layers // pp)
    counts = [per_stage] * pp
    for step in range(per_stage * pp - num_layers):
        half, side = divmod(step, 2)  # 0 first, 1 last, 2 last - 1, 3 second, ...
        counts[half if side == (half % 2) else pp - 1 - half] -= 1
    return tuple(counts)


def candidate_splits(num_layers: int, pp: int) -> list[tuple[int, ...] | None]:
    """The pp_layers a plan search tries for this pp: None (the even split) when pp
    divides the layers, else the uneven split (the balanced one where pp divides
    layers + 2); none when pp exceeds the layers."""
    if num_layers % pp == 0:
        return [None]
    uneven = uneven_split(num_layers, pp)
    return [] if uneven is None else [uneven]


def check_pp_layers(pp_layers: tuple[int, ...], pp: int | None, num_layers: int) -> None:
    """SpecError naming --pp-layers unless the counts are pp (when given) positive
    integers summing to the model's layers."""
    shown = ",".join(map(str, pp_layers[:8])) + (",..." if len(pp_layers) > 8 else "")
    if pp is not None and len(pp_layers) != pp:
        problem = f"has {len(pp_layers)} stages, not --pp {pp}"
    elif any(count < 1 for count in pp_layers):
        problem = "has a stage with no layer"
    elif sum(pp_layers) != num_layers:
        problem = f"sums to {sum(pp_layers)} layers, not the model's {num_layers}"
    else:
        return
    raise SpecError(
        f"{shown} {problem}",
        key_path=PP_LAYERS_OPTION,
        hint="one layer count per pipeline stage, each at least 1, summing to the layers",
    )


def parse_pp_layers(text: str | None) -> tuple[int, ...] | None:
    """'7,14,...' as a tuple of ints; SpecError naming --pp-layers when not integers."""
    if text is None:
        return None
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise SpecError(
            f"not a comma-separated list of layer counts: {shown!r}",
            key_path=PP_LAYERS_OPTION,
            hint="e.g. --pp-layers 7,8,8,7",
        ) from None
    return counts


def stage_layer_counts(
    num_layers: int, pp: int, pp_layers: tuple[int, ...] | None
) -> tuple[int, ...]:
    """Layers of each stage: the explicit split, else the even one (pp divides them)."""
    if pp_layers is not None:
        return pp_layers
    return (num_layers // pp,) * pp


def chunk_layer_counts(
    counts: tuple[int, ...], virtual_stages: int
) -> tuple[tuple[int, ...], ...] | None:
    """Layers of each of the v model chunks of each stage (module docstring): each
    stage's layers as evenly as possible, the smaller chunks beside the model end the
    first and the last stage hold. None where a chunk would hold no layer and no model
    end (a stage with fewer layers than chunks)."""
    v, last = virtual_stages, len(counts) - 1
    out = []
    for stage, count in enumerate(counts):
        base, rest = divmod(count, v)
        larger = [base + 1] * rest
        # the first stage's larger chunks go last (its first chunk holds the embedding)
        chunks = [base] * (v - rest) + larger if stage == 0 else larger + [base] * (v - rest)
        ends = {0} if stage == 0 else set()
        ends |= {v - 1} if stage == last else set()
        if any(n == 0 and j not in ends for j, n in enumerate(chunks)) or not any(chunks):
            return None
        out.append(tuple(chunks))
    return tuple(out)


def _chunk_order(counts: tuple[int, ...], virtual_stages: int) -> list[tuple[int, int, int]]:
    """(stage, chunk, layers) of every model chunk in model order: chunk j of every
    stage, then chunk j + 1 (interleaving; one chunk per stage when v = 1)."""
    chunks = chunk_layer_counts(counts, virtual_stages) if virtual_stages > 1 else None
    if chunks is None:
        return [(stage, 0, count) for stage, count in enumerate(counts)]
    return [
        (stage, j, chunks[stage][j]) for j in range(virtual_stages) for stage in range(len(counts))
    ]


def _kind_rows(
    spec: TransformerSpec, order: list[tuple[int, int, int]]
) -> dict[tuple[int, int], list[int]]:
    """Layers of each kind in each (stage, chunk), the layers taken in model order."""
    kinds = spec.layer_kinds()
    index = {kind: k for k, (kind, _) in enumerate(kinds)}
    sequence = [index[kind] for kind in spec.layer_sequence()]
    rows: dict[tuple[int, int], list[int]] = {}
    start = 0
    for stage, chunk, count in order:
        row = rows.setdefault((stage, chunk), [0] * len(kinds))
        for k in sequence[start : start + count]:
            row[k] += 1
        start += count
    return rows


def _stage_kind_counts(
    spec: TransformerSpec, pp: int, virtual_stages: int, counts: tuple[int, ...]
) -> list[tuple[int, ...]]:
    """Layers of each kind on each stage, the layers taken in order (chunk by chunk
    under interleaving)."""
    if len(spec.layer_kinds()) == 1:
        return [(count,) for count in counts]
    rows = _kind_rows(spec, _chunk_order(counts, virtual_stages))
    per_stage = [[0] * len(spec.layer_kinds()) for _ in counts]
    for (stage, _), row in rows.items():
        per_stage[stage] = [a + b for a, b in zip(per_stage[stage], row, strict=True)]
    return [tuple(row) for row in per_stage]


def chunk_groups(
    spec: TransformerSpec, pp: int, virtual_stages: int, pp_layers: tuple[int, ...] | None
) -> tuple[StageGroup, ...]:
    """The model chunks of an interleaved plan, grouped by the layers (per kind) and
    the model ends they hold (`first_stage`: the stage of the group's first chunk);
    what sets the interleaved bubble (`tigris.parallel.pipeline`)."""
    counts = stage_layer_counts(spec.num_layers, pp, pp_layers)
    order = _chunk_order(counts, virtual_stages)
    rows = _kind_rows(spec, order)
    last = virtual_stages - 1
    found: dict[tuple[int, ...], tuple[set[int], int]] = {}
    for stage, chunk, _ in order:
        ends = (1 if (stage, chunk) == (0, 0) else 0) | (
            2 if (stage, chunk) == (pp - 1, last) else 0
        )
        found.setdefault(tuple(rows[stage, chunk]), (set(), stage))[0].add(ends)
    return _groups(spec, found)


def _groups(
    spec: TransformerSpec, found: dict[tuple[int, ...], tuple[set[int], int]]
) -> tuple[StageGroup, ...]:
    """StageGroups of {kind counts: (ends codes, first stage)}."""
    moe = [kind.mlp == "moe" for kind, _ in spec.layer_kinds()]
    return tuple(
        StageGroup(
            kinds=row,
            layers=sum(row),
            moe_layers=sum(n for n, is_moe in zip(row, moe, strict=True) if is_moe),
            ends=frozenset(ends),
            first_stage=first,
        )
        for row, (ends, first) in found.items()
    )


def virtual_stage_choices(
    num_layers: int, pp: int, pp_layers: tuple[int, ...] | None, limit: int
) -> list[int]:
    """The v a plan search tries (up to `limit`): the divisors of the layers per stage
    for an even split; for the balanced split those of (layers + 2) / pp (every chunk
    but the two at the model ends alike, as Llama 3 ran it); for another explicit split
    every v its stages can be chunked into. [1] without a pipeline."""
    if pp == 1:
        return [1]
    if pp_layers is None:
        per_stage = num_layers // pp
        return [v for v in range(1, limit + 1) if per_stage % v == 0]
    if pp_layers == balanced_split(num_layers, pp):
        per_stage = (num_layers + 2) // pp
        return [v for v in range(1, limit + 1) if per_stage % v == 0]
    return [v for v in range(1, limit + 1) if chunk_layer_counts(pp_layers, v) is not None]


def stage_groups(
    spec: TransformerSpec, pp: int, virtual_stages: int, pp_layers: tuple[int, ...] | None
) -> tuple[StageGroup, ...]:
    """The stages of a plan, grouped by the layers they hold (an even split of a model
    whose layers are alike is one group), in order of their first stage."""
    if pp_layers is None and len(spec.layer_kinds()) == 1:  # the search's hot path
        layers = spec.num_layers // pp
        moe = layers if spec.layer_sequence()[0].mlp == "moe" else 0
        ends = frozenset({3} if pp == 1 else {0, 1, 2} if pp > 2 else {1, 2})
        return (StageGroup((layers,), layers, moe, ends, 0),)
    counts = stage_layer_counts(spec.num_layers, pp, pp_layers)
    rows = _stage_kind_counts(spec, pp, virtual_stages, counts)
    found: dict[tuple[int, ...], tuple[set[int], int]] = {}
    for stage, row in enumerate(rows):
        ends = (1 if stage == 0 else 0) | (2 if stage == pp - 1 else 0)
        found.setdefault(row, (set(), stage))[0].add(ends)
    return _groups(spec, found)
