"""The dtypes a workload runs in: compute, stored weights, KV cache, gradients, optimizer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tigris.errors import SpecError
from tigris.hardware.quantities import DType


class Precision(BaseModel):
    """Dtypes in use. Defaults are bf16 mixed-precision training as in Megatron-LM: bf16
    activations and weight copy, fp32 master weights, fp32 Adam moments, and fp32 weight
    gradients (the wgrad GEMM accumulates into an fp32 main_grad)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    compute_dtype: DType = Field("bf16", description="activations and GEMM inputs")
    weight_dtype: DType | None = Field(
        None, description="stored weights read by the GEMMs (e.g. int4); default compute_dtype"
    )
    kv_cache_dtype: DType | None = Field(
        None, description="KV cache in inference; default compute_dtype"
    )
    grad_dtype: DType = Field("fp32", description="weight gradients (wgrad GEMM output)")
    master_dtype: DType = Field("fp32", description="optimizer's master copy of the weights")
    optimizer_state_dtype: DType = Field("fp32", description="Adam first and second moments")
    fp8_scaling: Literal["tensor", "block"] = Field(
        "tensor",
        description="fp8 GEMM scaling: one scale per tensor (Transformer Engine's delayed "
        "scaling), or DeepSeek-V3's fine-grained blocks (1x128 activation tiles, 128x128 "
        "weight blocks, fp32 promotion every 128 of K; arXiv:2412.19437 sec. 3.3)",
    )

    @property
    def weights(self) -> str:
        return self.weight_dtype or self.compute_dtype

    @property
    def kv_cache(self) -> str:
        return self.kv_cache_dtype or self.compute_dtype


FP8_SCALINGS = ("tensor", "block")


def training_precision(fp8_scaling: str, dtype: str) -> Precision:
    """The training Precision of `tigris train --fp8-scaling` (default Precision() for
    'tensor'); SpecError naming --fp8-scaling for an unknown value, or 'block' without
    --dtype fp8 (it scales fp8 GEMMs only)."""
    if fp8_scaling not in FP8_SCALINGS:
        raise SpecError(
            f"unknown scaling {str(fp8_scaling)[:20]!r}",
            key_path="--fp8-scaling",
            hint="tensor | block",
        )
    if fp8_scaling == "block" and dtype != "fp8":
        raise SpecError(
            f"block applies only with --dtype fp8, not {dtype}", key_path="--fp8-scaling"
        )
    return Precision(fp8_scaling=fp8_scaling)  # type: ignore[arg-type]
