"""Request-level serving: inference steps, memory and the paged KV cache, static-batch
inference (`infer`), the discrete-event serving simulator (`simulate`) and the MLPerf-style
scenarios (`run_offline`, `run_server`).

The names below are imported on first use: `tigris infer` needs the deployment, memory
and step-time modules only, not numpy (which request generation and traces load).
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "Deployment": "tigris.serving.deployment",
    "build_deployment": "tigris.serving.deployment",
    "MemoryPlan": "tigris.serving.memory",
    "plan_memory": "tigris.serving.memory",
    "Workload": "tigris.serving.requests",
    "synthetic_workload": "tigris.serving.requests",
    "InferResult": "tigris.serving.static_batch",
    "infer": "tigris.serving.static_batch",
    "StepTimer": "tigris.serving.step_time",
    "read_trace": "tigris.serving.trace",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
