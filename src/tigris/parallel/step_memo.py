"""Memoisation of the training-step model, in one place and outside it.

`tigris.parallel.step_model.evaluate` is pure: it builds the sharded graph, times every op
and every collective on each call. A plan search evaluates thousands of plans of one
setup, and a design sweep the same plan on thousands of chips, so this module remembers
what those calls share, keyed by value:
- sharded graphs by the model, sequence, precision, framework and the plan's split (no
  chip: a sweep's designs share them);
- op times by chip (its value), engine and op shape;
- collective times by cluster (the collective model reads the cluster's tiers only; the
  chip's links are the cluster's scale-up);
- a plan's chip-independent figures (`PlanFigures`) by setup-but-the-chip and plan.

`TIGRIS_NO_MEMO=1` in the environment, or `with no_memo():`, turns it off: every
StepModel then calls the pure model directly, which is how the tests show that results
do not depend on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, cached_property
from operator import attrgetter

from tigris.engines.base import Engine, OpTime, get_engine
from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster
from tigris.parallel.memory import MemoryBreakdown, StageWeights, stage_weights
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.sharded_step import (
    GroupSums,
    ShardedStep,
    StepBase,
    build_sharded_step,
    group_sums,
    step_base,
    zero_shard,
)
from tigris.parallel.stages import StageGroup
from tigris.parallel.step_model import (
    DIRECT,
    EngineOpTimes,
    LayerComm,
    OpTimes,
    PlanFigures,
    StepInputs,
    evaluate,
    layer_comm,
    plan_figures,
    tensor_busy_s,
)
from tigris.parallel.step_result import Recompute, StepResult, TrainSetup
from tigris.workload.ops import Op, copy_op
from tigris.workload.spec import TransformerSpec

NO_MEMO_ENV = "TIGRIS_NO_MEMO"
# Set by no_memo() for the code it wraps (a context variable: no module-level state
# that threads or other contexts could see change under them).
_MEMO_OFF: ContextVar[bool] = ContextVar("tigris_step_memo_off", default=False)

# Chips whose op times a memo keeps before it forgets them all: a sweep times thousands
# of designs, each needed only while its batch is evaluated.
_MAX_CHIPS = 1024
# Value keys a memo interns before it forgets everything (bounds the process-wide memo of
# a long-running Python session that evaluates many setups).
_MAX_KEYS = 1 << 14


def memo_enabled() -> bool:
    """False under TIGRIS_NO_MEMO=1 or inside no_memo()."""
    return not _MEMO_OFF.get() and os.environ.get(NO_MEMO_ENV, "") in ("", "0")


@contextmanager
def no_memo() -> Iterator[None]:
    """StepModels made inside call the pure model with no memoisation."""
    token = _MEMO_OFF.set(True)
    try:
        yield
    finally:
        _MEMO_OFF.reset(token)


def _spec_json(spec: Chip | Cluster) -> str:
    """A frozen spec's value as its JSON, serialised once per object (it holds lists, so
    it has no hash; a str keeps its hash)."""
    return spec.derived("value_json", _dump_json)


def _dump_json(spec: Chip | Cluster) -> str:
    return spec.model_dump_json()


def _setup_key(setup: TrainSetup) -> tuple:
    """Everything of a setup the chip-independent figures read, by value."""
    return (
        setup.spec,
        _spec_json(setup.cluster),
        setup.precision,
        setup.num_chips,
        setup.global_batch,
        setup.seq_len,
        str(setup.attention),
        setup.attention_dropout,
        setup.dp_overlap,
        str(setup.loss),
        setup.grad_reduce_dtype,
        setup.moe_imbalance,
        setup.ep_all_to_all,
    )


def chip_key(setup: TrainSetup) -> str:
    """The chip's value as op times read it: its JSON, the engine, eager launches."""
    return f"{setup.engine}|{setup.eager}|{_spec_json(setup.chip)}"


# A plan's value as a tuple of its fields (cheaper to hash than the pydantic model).
plan_key = attrgetter(*ParallelPlan.model_fields)


def _graph_key(setup: TrainSetup, plan: ParallelPlan) -> tuple:
    """What a sharded graph reads of a setup (no chip, no cluster) and of a plan."""
    return (
        plan.tp,
        plan.cp,
        plan.ep,
        plan.sequence_parallel,
        plan.micro_batch,
        plan.recompute == Recompute.full,
        plan.dtype,
        zero_shard(plan),
    )


class StepMemo:
    """Tables shared by the StepModels of many chips and plans (one per worker; not
    thread-safe). Results are identical with or without it (tests/parallel)."""

    def __init__(self) -> None:
        # value keys -> small ints, so lookups hash a few ints, not a pydantic spec
        self._ids: dict[tuple, int] = {}
        self.bases: dict[tuple, StepBase] = {}
        self.sharded: dict[tuple, ShardedStep] = {}
        self.figures: dict[tuple, PlanFigures] = {}
        self.comm: dict[tuple, float] = {}
        self.layer_comm: dict[tuple, LayerComm] = {}
        self.flops: dict[tuple, tuple[float, float]] = {}
        self.params: dict[tuple, tuple[float, float]] = {}
        self.stage_weights: dict[tuple, tuple[StageWeights, ...]] = {}
        self.stage_groups: dict[tuple, tuple[StageGroup, ...]] = {}
        self.busy: dict[tuple, float] = {}
        self.memory: dict[tuple, MemoryBreakdown] = {}
        # by chip key (engine, eagerness and the chip's JSON; a str caches its hash):
        # shape -> seconds
        self.op_s: dict[str, dict[Op, float]] = {}
        self.groups: dict[tuple, GroupSums] = {}
        self.engines: dict[str, Engine] = {}

    def intern(self, key: tuple) -> int:
        """A small int standing for `key`'s value (every table forgotten past a bound:
        the ints number the keys of the tables)."""
        found = self._ids.get(key)
        if found is None:
            if len(self._ids) >= _MAX_KEYS:
                self.__init__()  # type: ignore[misc]
            found = self._ids[key] = len(self._ids)
        return found

    def engine(self, name: str) -> Engine:
        found = self.engines.get(name)
        if found is None:
            found = self.engines[name] = get_engine(name)
        return found

    def chip_times(self, chip_key: str) -> dict[Op, float]:
        """The op-time table of one chip, forgetting every chip's past a bound."""
        table = self.op_s.get(chip_key)
        if table is None:
            if len(self.op_s) >= _MAX_CHIPS:
                self.op_s.clear()
                self.groups.clear()
            table = self.op_s[chip_key] = {}
        return table

    def bind(self, setup: TrainSetup) -> MemoInputs:
        return MemoInputs(self, setup)

    def step(self, setup: TrainSetup, plan: ParallelPlan) -> ShardedStep:
        """The sharded graph of `setup` under `plan`, built once per value."""
        return self.bind(setup).sharded(setup, plan)

    def evaluate_many(
        self, setups: Sequence[TrainSetup], plan: ParallelPlan, *, checked: bool = False
    ) -> list[StepResult]:
        """`[StepModel(setup, self).evaluate(plan) for setup in setups]`, the same results,
        for setups equal but for the chip (a sweep's designs, each evaluated once): the
        step's ops timed on all the chips together (the tile engine's `times_grid`, the
        same floats as chip by chip), the chip-independent figures looked up once, and
        nothing kept by a chip's value (no chip is asked twice)."""
        if len(setups) < 2 or not memo_enabled() or setups[0].engine != "tile" or setups[0].eager:
            return [StepModel(s, self).evaluate(plan, checked=checked) for s in setups]
        from tigris.engines.tile.batch import times_grid

        first = setups[0]
        shared = self.bind(first)
        step, figures = shared.sharded(first, plan), shared.figures(first, plan)
        columns = times_grid(step.shapes, [s.chip for s in setups]).T.tolist()  # chips x ops
        engine = self.engine(first.engine)
        results = []
        for setup, times in zip(setups, columns, strict=True):
            inputs = ChipInputs(shared, setup, (step, figures, group_sums(step, times)))
            op_times = EngineOpTimes(engine, setup.chip)
            results.append(evaluate(setup, plan, op_times, inputs, checked=checked))
            checked = True  # check_plan reads no chip: once for all
        return results


StepCache = StepMemo  # the name explore and the benchmarks knew


@cache
def shared_memo() -> StepMemo:
    """The memo of StepModels given none: one per process, so that repeated calls (the
    same plan asked again, a search after a search) reuse what earlier ones computed."""
    return StepMemo()


class MemoOpTimes:
    """OpTimes of one chip through a memo's table for it (ops keyed by shape: an engine's
    time reads an op's shape and dtypes, not its name)."""

    def __init__(self, memo: StepMemo, chip_key: str, direct: EngineOpTimes) -> None:
        self.memo, self.chip_key, self.direct = memo, chip_key, direct
        self._results: dict[Op, OpTime] = {}

    def times_s(self, ops: Sequence[Op]) -> list[float]:
        known = self.memo.chip_times(self.chip_key)
        shapes = [op if op.name == "" else copy_op(op, name="") for op in ops]
        missing = list(dict.fromkeys(shape for shape in shapes if shape not in known))
        if missing:
            known.update(zip(missing, self.direct.times_s(missing), strict=True))
        return [known[shape] for shape in shapes]

    def results(self, ops: Sequence[Op]) -> list[OpTime]:
        missing = [op for op in dict.fromkeys(ops) if op not in self._results]
        self._results.update(zip(missing, self.direct.results(missing), strict=True))
        return [self._results[op] for op in ops]


class MemoInputs(StepInputs):
    """StepInputs of one setup through a StepMemo: the setup's value keys computed once
    (a search asks thousands of times), every look-up remembered in the memo."""

    def __init__(self, memo: StepMemo, setup: TrainSetup) -> None:
        self.memo = memo
        self.setup_id = memo.intern(_setup_key(setup))
        self.graph_id = memo.intern(
            (setup.spec, setup.seq_len, setup.precision, str(setup.loss), setup.moe_imbalance)
            + (str(setup.attention), setup.attention_dropout, setup.ep_all_to_all)
        )
        self.cluster_id = memo.intern(("cluster", _spec_json(setup.cluster)))
        self.setup = setup

    @cached_property
    def chip_key(self) -> str:
        return chip_key(self.setup)

    def sharded(self, setup: TrainSetup, plan: ParallelPlan) -> ShardedStep:
        key = (self.graph_id, *_graph_key(setup, plan))
        found = self.memo.sharded.get(key)
        if found is None:
            # the per-chip ops do not depend on the ZeRO shard (the key's last item): only
            # the optimizer's streams are scaled by it
            base_key = key[:-1]
            base = self.memo.bases.get(base_key)
            if base is None:
                base = self.memo.bases[base_key] = step_base(setup, plan)
            found = self.memo.sharded[key] = build_sharded_step(setup, plan, base)
        return found

    def group_seconds(
        self, setup: TrainSetup, plan: ParallelPlan, step: ShardedStep, op_times: OpTimes
    ) -> GroupSums:
        key = (self.chip_key, self.graph_id, *_graph_key(setup, plan))
        found = self.memo.groups.get(key)
        if found is None:
            found = self.memo.groups[key] = group_sums(step, op_times.times_s(step.shapes))
        return found

    def collective_s(
        self, setup: TrainSetup, kind: str, message_bytes: float, size: int, stride: int
    ) -> float:
        key = (self.cluster_id, kind, message_bytes, size, stride)
        found = self.memo.comm.get(key)
        if found is None:
            found = self.memo.comm[key] = DIRECT.collective_s(
                setup, kind, message_bytes, size, stride
            )
        return found

    def layer_comm(self, setup: TrainSetup, plan: ParallelPlan, phase: str) -> LayerComm:
        tokens = plan.micro_batch * setup.seq_len
        key = (self.cluster_id, self.graph_id, tokens, plan.tp, plan.ep, plan.cp)
        key += (plan.sequence_parallel, phase)
        found = self.memo.layer_comm.get(key)
        if found is None:
            found = self.memo.layer_comm[key] = layer_comm(setup, plan, phase, self)
        return found

    def flop_per_token(
        self, spec: TransformerSpec, seq_len: int, recompute: str
    ) -> tuple[float, float]:
        key = (self.graph_id, seq_len, str(recompute))
        found = self.memo.flops.get(key)
        if found is None:
            found = self.memo.flops[key] = DIRECT.flop_per_token(spec, seq_len, recompute)
        return found

    def stage_weights(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[StageWeights, ...]:
        key = (self.graph_id, plan.tp, plan.pp, plan.ep, plan.virtual_stages, plan.pp_layers)
        key += (plan.pp_schedule,)  # DualPipe holds two copies of the parameters
        found = self.memo.stage_weights.get(key)
        if found is None:
            found = self.memo.stage_weights[key] = stage_weights(spec, plan)
        return found

    def params(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[float, float]:
        key = (self.graph_id, plan.tp, plan.pp, plan.ep, plan.virtual_stages, plan.pp_layers)
        key += (plan.pp_schedule,)
        found = self.memo.params.get(key)
        if found is None:
            found = self.memo.params[key] = StepInputs.params(self, spec, plan)
        return found

    def memory(self, setup: TrainSetup, plan: ParallelPlan) -> MemoryBreakdown:
        key = (self.setup_id, setup.chip.dram_capacity_bytes, plan_key(plan))
        found = self.memo.memory.get(key)
        if found is None:
            found = self.memo.memory[key] = StepInputs.memory(self, setup, plan)
        return found

    def tensor_busy_s(self, setup: TrainSetup, plan: ParallelPlan) -> float:
        key = (self.chip_key, self.setup_id, plan.recompute, plan.dtype)
        found = self.memo.busy.get(key)
        if found is None:
            found = self.memo.busy[key] = tensor_busy_s(setup, plan, self)
        return found

    def stage_groups(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[StageGroup, ...]:
        key = (self.graph_id, plan.pp, plan.virtual_stages, plan.pp_layers)
        found = self.memo.stage_groups.get(key)
        if found is None:
            found = self.memo.stage_groups[key] = StepInputs.stage_groups(self, spec, plan)
        return found

    def figures(self, setup: TrainSetup, plan: ParallelPlan) -> PlanFigures:
        # the figures read no chip but its memory capacity (PlanFigures.memory_on)
        key = (self.setup_id, plan_key(plan))
        found = self.memo.figures.get(key)
        if found is None:
            found = self.memo.figures[key] = plan_figures(setup, plan, self)
        return found


class ChipInputs(MemoInputs):
    """The MemoInputs of a setup bound once (`shared`) for another chip of the batch
    `StepMemo.evaluate_many` evaluates under one plan: the plan's sharded step and
    chip-independent figures looked up once for all (`known`, with this chip's group
    sums of its op times), the per-chip look-ups computed and not kept (no chip key:
    the chip is evaluated once)."""

    def __init__(
        self,
        shared: MemoInputs,
        setup: TrainSetup,
        known: tuple[ShardedStep, PlanFigures, GroupSums],
    ) -> None:
        self.memo, self.setup = shared.memo, setup
        self.setup_id, self.graph_id = shared.setup_id, shared.graph_id
        self.cluster_id = shared.cluster_id
        self.step, self.plan_figures, self.groups = known

    def sharded(self, setup: TrainSetup, plan: ParallelPlan) -> ShardedStep:
        return self.step

    def figures(self, setup: TrainSetup, plan: ParallelPlan) -> PlanFigures:
        return self.plan_figures

    def group_seconds(
        self, setup: TrainSetup, plan: ParallelPlan, step: ShardedStep, op_times: OpTimes
    ) -> GroupSums:
        return self.groups

    def tensor_busy_s(self, setup: TrainSetup, plan: ParallelPlan) -> float:
        return tensor_busy_s(setup, plan, self)


@dataclass(frozen=True)
class MicrobatchTimes:
    """Seconds of one micro-batch's compute on one chip, per part (layer: one layer of
    each kind, `spec.layer_kinds()` order)."""

    layer_fwd_s: tuple[float, ...]
    layer_bwd_s: tuple[float, ...]
    layer_recompute_s: tuple[float, ...]
    layer_attention_s: tuple[float, ...]
    embedding_s: float
    head_s: float
    optimizer_layer_ops: tuple[tuple[Op, ...], ...]
    optimizer_model_ops: tuple[Op, ...]


class StepModel:
    """Evaluates plans for one TrainSetup through the pure model, memoised in `cache` (a
    StepMemo shared by the StepModels of many chips; a new one if not given) unless
    memoisation is off (`no_memo`, TIGRIS_NO_MEMO=1) or `per_op` asks for the plain
    model (the reference the memo is tested against)."""

    def __init__(
        self, setup: TrainSetup, cache: StepMemo | None = None, *, per_op: bool = False
    ) -> None:
        self.setup = setup
        self.memo: StepMemo | None = None
        if not per_op and memo_enabled():
            self.memo = cache if cache is not None else shared_memo()

    # made on first use: a sweep's model evaluates once and a search thousands of times
    @cached_property
    def inputs(self) -> StepInputs:
        return DIRECT if self.memo is None else self.memo.bind(self.setup)

    @cached_property
    def op_times(self) -> OpTimes:
        setup = self.setup
        engine = self.memo.engine(setup.engine) if self.memo else get_engine(setup.engine)
        direct = EngineOpTimes(engine, setup.chip, eager=setup.eager)
        if self.memo is None:
            return direct
        inputs = self.inputs
        assert isinstance(inputs, MemoInputs)
        return MemoOpTimes(self.memo, inputs.chip_key, direct)

    def evaluate(self, plan: ParallelPlan, *, checked: bool = False) -> StepResult:
        return evaluate(self.setup, plan, self.op_times, self.inputs, checked=checked)

    def microbatch_times(self, plan: ParallelPlan) -> MicrobatchTimes:
        """One micro-batch's compute seconds by part (what the step model sums)."""
        setup, inputs = self.setup, self.inputs
        step = inputs.sharded(setup, plan)
        groups = inputs.group_seconds(setup, plan, step, self.op_times)
        return MicrobatchTimes(
            layer_fwd_s=groups.layer_fwd,
            layer_bwd_s=groups.layer_bwd,
            layer_recompute_s=groups.layer_recompute,
            layer_attention_s=groups.layer_attention,
            embedding_s=groups.embedding,
            head_s=groups.head,
            optimizer_layer_ops=step.optimizer_layer_ops,
            optimizer_model_ops=step.optimizer_model_ops,
        )
