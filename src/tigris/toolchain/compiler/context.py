"""What every lowering rule needs: the machine, the numerics mode, the emitter, the HBM
layout, the graph's constants and the calibrated activation scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.toolchain.compiler.emitter import Emitter
from tigris.toolchain.compiler.graph import Graph
from tigris.toolchain.compiler.layout import HbmLayout
from tigris.toolchain.compiler.numerics import Mode
from tigris.toolchain.isa.machine import Machine
from tigris.toolchain.isa.program import Symbol

ACT = "bf16"  # activations between operators


@dataclass
class Context:
    machine: Machine
    mode: Mode
    graph: Graph
    emitter: Emitter
    layout: HbmLayout
    activation_absmax: dict[str, float]
    smoothing: dict[str, np.ndarray]

    def activation(self, name: str, cols: int | None = None, rows: int | None = None) -> Symbol:
        if name in self.layout.tensors:
            return self.layout.tensors[name]
        assert cols is not None, f"activation {name} used before it is produced"
        return self.layout.tensor(name, rows or self.graph.num_tokens, cols, ACT)

    def constant(self, name: str, dtype: str = "f32", values: np.ndarray | None = None) -> Symbol:
        data = self.graph.constants[name] if values is None else values
        return self.layout.constant(name, data, dtype)

    def width(self, name: str) -> int:
        return self.layout.tensors[name].shape[1]
