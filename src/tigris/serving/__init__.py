"""Request-level serving: inference steps, memory and the paged KV cache, static-batch
inference (`infer`), the discrete-event serving simulator (`simulate`) and the MLPerf-style
scenarios (`run_offline`, `run_server`)."""

from tigris.serving.deployment import Deployment, build_deployment
from tigris.serving.memory import MemoryPlan, plan_memory
from tigris.serving.requests import Workload, synthetic_workload
from tigris.serving.static_batch import InferResult, infer
from tigris.serving.step_time import StepTimer
from tigris.serving.trace import read_trace

__all__ = [
    "Deployment",
    "InferResult",
    "MemoryPlan",
    "StepTimer",
    "Workload",
    "build_deployment",
    "infer",
    "plan_memory",
    "read_trace",
    "synthetic_workload",
]
