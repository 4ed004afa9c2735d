"""WHAT runs: the model (`TransformerSpec`, from a Hugging Face config.json or the catalog)
and the op graph of a training step, a prefill or a decode step."""

from tigris.workload.graph import OpGraph, OpGroup
from tigris.workload.hf_config import from_hf_config, supported_model_types
from tigris.workload.ops import Attention, Gemm, Op, Stream
from tigris.workload.precision import Precision
from tigris.workload.presets import list_model_ids, load_model
from tigris.workload.spec import ParamCount, TransformerSpec
from tigris.workload.tasks import decode_graph, prefill_graph, train_step_graph

__all__ = [
    "Attention",
    "Gemm",
    "Op",
    "OpGraph",
    "OpGroup",
    "ParamCount",
    "Precision",
    "Stream",
    "TransformerSpec",
    "decode_graph",
    "from_hf_config",
    "list_model_ids",
    "load_model",
    "prefill_graph",
    "supported_model_types",
    "train_step_graph",
]
