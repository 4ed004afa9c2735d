"""Vector-unit lowerings of elementwise functions, each a fixed sequence of VPU
instructions (the order the numpy reference repeats). All arithmetic is fp32.

  gelu (erf):  y = ((erf(x * 0.70710677) + 1) * x) * 0.5
  gelu_tanh:   y = ((tanh(((x*x*x) * 0.044715 + x) * 0.7978846) + 1) * x) * 0.5
  silu:        y = x * sigmoid(x)
  relu:        y = max(x, 0)
"""

from __future__ import annotations

import numpy as np

from tigris.toolchain.compiler.emitter import Emitter
from tigris.toolchain.isa.operands import Tile

INV_SQRT2 = float(np.float32(0.70710677))
GELU_CUBIC = float(np.float32(0.044715))
SQRT_2_OVER_PI = float(np.float32(0.7978846))


def activation(e: Emitter, core: int, kind: str, y: Tile, t: Tile) -> None:
    """y = kind(y), in place, with t as scratch (same shape as y)."""
    if kind == "gelu":
        e.vi("muli", core, t, y, INV_SQRT2)
        e.v("erf", core, t, t)
        e.vi("addi", core, t, t, 1.0)
        e.v("mul", core, t, t, y)
        e.vi("muli", core, y, t, 0.5)
    elif kind == "gelu_tanh":
        e.v("mul", core, t, y, y)
        e.v("mul", core, t, t, y)
        e.vi("muli", core, t, t, GELU_CUBIC)
        e.v("add", core, t, t, y)
        e.vi("muli", core, t, t, SQRT_2_OVER_PI)
        e.v("tanh", core, t, t)
        e.vi("addi", core, t, t, 1.0)
        e.v("mul", core, t, t, y)
        e.vi("muli", core, y, t, 0.5)
    elif kind == "silu":
        e.v("sigmoid", core, t, y)
        e.v("mul", core, y, y, t)
    elif kind == "relu":
        e.vi("maxi", core, y, y, 0.0)
    else:
        from tigris.errors import UnsupportedError

        raise UnsupportedError(
            f"activation {kind!r} cannot be lowered (gelu, gelu_tanh, silu, relu)"
        )
