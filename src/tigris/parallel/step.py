"""The training-step model's public names, in one import (callers and tests use them).

The model itself is split by concern:
- `tigris.parallel.step_result`: TrainSetup, the choices (StrEnums), StepResult and its
  tree of named parts (StepNode);
- `tigris.parallel.sharded_step`: the per-chip ops of a step under a plan;
- `tigris.parallel.step_model`: the pure model, `evaluate(setup, plan, op_times)`;
- `tigris.parallel.step_traffic`: each part's flop, DRAM bytes and link bytes;
- `tigris.parallel.step_memo`: memoisation by value (StepModel, StepMemo), which
  `TIGRIS_NO_MEMO=1` or `no_memo()` turns off.
"""

from __future__ import annotations

from tigris.parallel.sharded_step import ShardedStep, build_sharded_step, step_parts
from tigris.parallel.step_memo import (
    MicrobatchTimes,
    StepCache,
    StepMemo,
    StepModel,
    memo_enabled,
    no_memo,
)
from tigris.parallel.step_model import DP_BUCKET_ELEMENTS, EngineOpTimes, PlanFigures, evaluate
from tigris.parallel.step_result import (
    AttentionKernel,
    Loss,
    Recompute,
    StepNode,
    StepResult,
    StepSeconds,
    TimeNode,
    TrainSetup,
    model_flop_per_token,
    recompute_flop_per_token,
)
from tigris.workload.precision import Precision

_step_parts = step_parts  # the name tests/parallel/test_clock.py reads

__all__ = [
    "DP_BUCKET_ELEMENTS",
    "AttentionKernel",
    "EngineOpTimes",
    "Loss",
    "MicrobatchTimes",
    "PlanFigures",
    "Precision",
    "Recompute",
    "ShardedStep",
    "StepCache",
    "StepMemo",
    "StepModel",
    "StepNode",
    "StepResult",
    "StepSeconds",
    "TimeNode",
    "TrainSetup",
    "build_sharded_step",
    "evaluate",
    "memo_enabled",
    "model_flop_per_token",
    "no_memo",
    "recompute_flop_per_token",
]
