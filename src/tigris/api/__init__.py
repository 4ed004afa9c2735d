"""Tigris's public Python API: one function per question, each returning a typed result
whose `to_dict()` is exactly what the matching command prints with `--json`.

    import tigris.api as t
    t.gemm(8192, 8192, 8192, chip="h100-sxm", dtype="bf16")
    t.train("llama3-8b", chip="h100-sxm", num_chips=8, global_batch=64, seq_len=4096)
    t.infer("llama3-8b", chip="h100-sxm", num_chips=1, batch=16, input_len=1024, output_len=256)
    t.serve("llama3-8b", chip="h100-sxm", num_chips=1, scenario="offline")
    t.compare(chips=["h100-sxm", "tpu-v5p"])

Chips and models are ids, paths to YAML / config.json files, or spec objects. The commands
in tigris.cli are thin wrappers over these functions (parse, call, print). See docs/api.md.

The functions are imported on first use so that `import tigris.api` stays cheap. Their
modules are named for what they hold (operators, training, inference, serving, comparison),
not after the functions, so that a module never shadows its function here.
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "gemm": "tigris.api.operators",
    "GemmResult": "tigris.api.operators",
    "attention": "tigris.api.kernels",
    "collective": "tigris.api.kernels",
    "stream": "tigris.api.kernels",
    "train": "tigris.api.training",
    "TrainResult": "tigris.api.training",
    "infer": "tigris.api.inference",
    "InferResult": "tigris.api.inference",
    "serve": "tigris.api.serving",
    "ServeResult": "tigris.api.serving",
    "compare": "tigris.api.comparison",
    "CompareResult": "tigris.api.comparison",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
