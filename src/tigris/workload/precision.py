"""The dtypes a workload runs in: compute, stored weights, KV cache, gradients, optimizer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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

    @property
    def weights(self) -> str:
        return self.weight_dtype or self.compute_dtype

    @property
    def kv_cache(self) -> str:
        return self.kv_cache_dtype or self.compute_dtype
