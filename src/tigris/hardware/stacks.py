"""Software stacks (`--stack`): what a serving or training stack changes in a chip's time.

A stack is not a second step-time model: it modifies the inputs of the one model.
- `gemm_efficiency` multiplies the chip's calibrated matrix_fraction (1: the kernel
  library the chip's GEMM rows measured, cuBLAS on NVIDIA, hipBLASLt on AMD, XLA on TPU);
- `attention` names the prefill attention kernel (an implementation the tile engine
  times: flash2, flash3, cudnn, triton...; tests check the catalog's against
  tigris.workload.ops, a layer above this one); None keeps the engine's default (flash2);
- `grouped_kv_reads`, `all_reduce` and `moe_expert_gemm` set the Deployment's
  decode-attention, tensor-parallel all-reduce and expert-GEMM kernels where the stack
  fixes them (None: the default; a release that differs, e.g. TensorRT-LLM v0.9's 16-bit
  expert GEMMs, is a stack of its own);
- `step_overhead_s` is host time per engine step (one forward pass) that the device
  waits for: scheduling and input preparation run serially with the step in engines
  that do not overlap them (vLLM's V0 engine before v0.6: vLLM blog, 2024-09-05);
- `seq_overhead_s` is host time per running sequence per engine step, serial with the
  device in the same engines (V0's per-sequence output processing, detokenisation and,
  with the API server in the engine's process, streaming: same blog);
- `overhead_on_device`: those times are spent with the device busy rather than idle
  (an engine that overlaps its host work, vLLM V1 with async scheduling, where what the
  fit finds per sequence is device work the kernels' model misses, e.g. sampling over
  the vocabulary): power keeps the busy power over them (tigris.validate.power_predict);
- `engine` names the scheduler profile (tigris.serving.engines: max sequences, token
  budget, chunked prefill) the stack runs by default.
Each value in catalog/stacks/<id>.yaml cites its source or, when fitted, its fitter and
the rows it was fitted on (`fitted`). A chip's default stack (`default_stack`) changes
nothing: the chip's calibration was fitted under it, so today's numbers stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from tigris.errors import SpecError
from tigris.hardware.chip import Chip

# The stack a chip runs when none is named, by vendor (then kind). Every one of these is
# the identity: the chips' calibrations were fitted on rows measured under them.
DEFAULT_STACK_BY_VENDOR = {"NVIDIA": "trtllm", "AMD": "vllm-rocm", "Google": "jax-xla"}
DEFAULT_STACK_BY_KIND = {"tpu": "jax-xla"}
NATIVE_STACK = "native"  # any other chip: its vendor's own stack, as calibrated
ALL_REDUCE_KINDS = ("nccl", "custom")
ANY_SOURCE = "*"


@dataclass(frozen=True)
class StackProfile:
    """One stack's properties (catalog/stacks/<id>.yaml); see the module docstring."""

    id: str
    name: str
    kind: str  # serving | training
    engine: str | None = None
    gemm_efficiency: float = 1.0
    attention: str | None = None
    grouped_kv_reads: bool | None = None
    all_reduce: str | None = None
    moe_expert_gemm: str | None = None  # tigris.workload.moe.EXPERT_GEMM_PATHS
    cuda_graphs: bool | None = None
    step_overhead_s: float = 0.0
    seq_overhead_s: float = 0.0
    overhead_on_device: bool = False
    fuses: tuple[str, ...] = ()
    # provenance: left out of equality (a Deployment holding a stack stays hashable)
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    fitted: dict[str, dict] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_identity(self) -> bool:
        """Changes no time: the chip as calibrated."""
        return (
            self.gemm_efficiency == 1.0
            and self.attention is None
            and self.grouped_kv_reads is None
            and self.all_reduce is None
            and self.moe_expert_gemm is None
            and self.step_overhead_s == 0.0
            and self.seq_overhead_s == 0.0
        )

    def apply_to_chip(self, chip: Chip) -> Chip:
        """The chip with the stack's kernel-library efficiency in its calibration (the
        same chip object when nothing changes)."""
        if self.gemm_efficiency == 1.0:
            return chip
        calibration = chip.calibration
        fraction = min(1.0, calibration.matrix_fraction * self.gemm_efficiency)
        return chip.model_copy(
            update={"calibration": calibration.model_copy(update={"matrix_fraction": fraction})}
        )

    def deployment_settings(self) -> dict[str, object]:
        """Deployment fields the stack fixes (only those it sets), and the stack."""
        settings: dict[str, object] = {"stack": self}
        if self.grouped_kv_reads is not None:
            settings["grouped_kv_reads"] = self.grouped_kv_reads
        if self.all_reduce is not None:
            settings["all_reduce"] = self.all_reduce
        if self.moe_expert_gemm is not None:
            settings["moe_expert_gemm"] = self.moe_expert_gemm
        return settings

    def with_values(self, **values: float) -> StackProfile:
        """A copy with some numeric values replaced (the fitter's trial profiles)."""
        from dataclasses import replace

        return replace(self, **values)

    def without_fits_from(self, source: str) -> StackProfile:
        """The profile with each value fitted on `source`'s rows back at its prior (the
        sourced value before the fit): how a row of that source is scored held out.
        ANY_SOURCE ('*'): every fitted value (a held-out chip: the fit rows are its)."""
        priors = {
            name: record["prior"]
            for name, record in self.fitted.items()
            if source in (ANY_SOURCE, record.get("source"))
        }
        return self.with_values(**priors) if priors else self

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "engine": self.engine,
            "gemm_efficiency": self.gemm_efficiency,
            "attention": self.attention,
            "step_overhead_s": self.step_overhead_s,
            "seq_overhead_s": self.seq_overhead_s,
        }


def _stacks_dir() -> Path:
    return Path(str(resources.files("tigris.hardware") / "catalog" / "stacks"))


def stack_names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in _stacks_dir().glob("*.yaml")))


@cache
def load_stack(name: str) -> StackProfile:
    """The catalog stack `name`; SpecError naming --stack for an unknown one."""
    path = _stacks_dir() / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        raise SpecError(
            f"unknown stack {name[:40]!r}", key_path="--stack", hint=", ".join(stack_names())
        )
    return _profile(path)


def _profile(path: Path) -> StackProfile:
    import yaml

    raw = yaml.safe_load(path.read_text())
    known = set(StackProfile.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown or raw.get("id") != path.stem:
        raise SpecError(
            f"bad stack file: unknown keys {unknown[:3]} or id {str(raw.get('id'))[:30]!r}",
            file=str(path),
        )
    raw["fuses"] = tuple(raw.get("fuses") or ())
    raw["step_overhead_s"] = float(raw.get("step_overhead_s") or 0.0)
    raw["seq_overhead_s"] = float(raw.get("seq_overhead_s") or 0.0)
    raw["gemm_efficiency"] = float(raw.get("gemm_efficiency", 1.0))
    profile = StackProfile(**raw)
    _check(profile, path)
    return profile


def _check(profile: StackProfile, path: Path) -> None:
    problems = []
    if not 0 < profile.gemm_efficiency <= 2:
        problems.append(f"gemm_efficiency {profile.gemm_efficiency}")
    if profile.step_overhead_s < 0:
        problems.append(f"step_overhead_s {profile.step_overhead_s}")
    if profile.seq_overhead_s < 0:
        problems.append(f"seq_overhead_s {profile.seq_overhead_s}")
    if profile.all_reduce is not None and profile.all_reduce not in ALL_REDUCE_KINDS:
        problems.append(f"all_reduce {profile.all_reduce[:20]!r}")
    if profile.kind not in ("serving", "training"):
        problems.append(f"kind {profile.kind[:20]!r}")
    if problems:
        raise SpecError(f"bad stack values: {', '.join(problems)}", file=str(path))


def default_stack_id(chip: Chip) -> str:
    """The stack a chip runs when --stack is not given (its calibration's)."""
    if chip.reference_design:
        return NATIVE_STACK
    vendor = chip.vendor.split()[0]
    return DEFAULT_STACK_BY_VENDOR.get(vendor) or DEFAULT_STACK_BY_KIND.get(chip.kind, NATIVE_STACK)


def resolve_stack(name: str | None, chip: Chip) -> StackProfile:
    """The named stack, or the chip's default one."""
    return load_stack(name if name is not None else default_stack_id(chip))


def apply_stack(name: str | None, chip: Chip, kind: str) -> tuple[Chip, dict[str, object]]:
    """(chip, Deployment settings) under the named `kind` ('serving' or 'training')
    stack; no name: the chip as calibrated (its default stack, the identity) and none."""
    if name is None:
        return chip, {}
    profile = load_stack(name)
    if profile.kind != kind:
        names = [n for n in stack_names() if load_stack(n).kind == kind]
        raise SpecError(
            f"{name[:40]!r} is a {profile.kind} stack", key_path="--stack", hint=", ".join(names)
        )
    return profile.apply_to_chip(chip), profile.deployment_settings()
