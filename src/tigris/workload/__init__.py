"""WHAT runs: the model (`TransformerSpec`, from a Hugging Face config.json or the catalog)
and the op graph of a training step, a prefill or a decode step.

The names below are imported on first use: timing one op (`tigris gemm`) needs
tigris.workload.ops only, not the model specs, their catalog and the graph builders.
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "OpGraph": "tigris.workload.graph",
    "OpGroup": "tigris.workload.graph",
    "from_hf_config": "tigris.workload.hf_config",
    "supported_model_types": "tigris.workload.hf_config",
    "Attention": "tigris.workload.ops",
    "Gemm": "tigris.workload.ops",
    "Op": "tigris.workload.ops",
    "Stream": "tigris.workload.ops",
    "Precision": "tigris.workload.precision",
    "list_model_ids": "tigris.workload.presets",
    "load_model": "tigris.workload.presets",
    "ParamCount": "tigris.workload.spec",
    "TransformerSpec": "tigris.workload.spec",
    "decode_graph": "tigris.workload.tasks",
    "prefill_graph": "tigris.workload.tasks",
    "train_step_graph": "tigris.workload.tasks",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
