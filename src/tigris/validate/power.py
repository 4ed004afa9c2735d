"""Measured power rows (power.csv) mapped to the row's setup and run through the models.

Each row becomes a `RowSetup` (model, chip, chips, tp, batch, lengths, dtype, power cap,
scope) or an `Unmapped` with the reason; no row is dropped. A mapped row is run once
through tigris' serving or training model (`predict_row`): the model's time for the
row's setup and the per-chip activity of that time, reduced to the power model's
reference rates (`tigris.cost.power_scope.reference_rates`). Fitting and scoring
(tigris.validate.power_score) only combine those rates with coefficients: no measured
value of a row enters its own rates.

Assumptions where a row does not state its setup (each named in the row's `assumed`):
- chat and gpqa prompts: 256 input tokens (ML.ENERGY logs give output lengths only);
- MLPerf llama2-70b: 294 input and 294 output tokens on average (OpenOrca subset,
  MLPerf Inference rules), the largest batch that fits up to 512 sequences per replica,
  tp 2 (NVIDIA v4.0 config: "TP2 x4"); the MaxQ cap read from the row's notes, else
  MAXQ_POWER_LIMIT_W (the MaxQ harness config the submitters share);
- the chip: tigris.validate.hardware_names.chip_for_hardware, the one name -> preset rule
  ("NVIDIA A100 GPU", Argonne's testbed, which states no memory size: the A100-SXM 80GB
  the rule reads a bare "A100" as; "NVIDIA H100 GPU": H100 SXM);
- gpt-oss 'mxfp4' rows: fp4 weights, bf16 activations and compute (W4A16). H100 has no
  fp4 tensor cores, so vLLM runs MXFP4 there as a weight-only kernel that dequantizes in
  the GEMM; only the MoE experts are MXFP4 in the checkpoint, tigris' weight_dtype puts
  every weight at fp4 (the experts are most of gpt-oss' parameters);
- MLPerf Training llama2_70b_lora (MLPT-*): the 1-node AC-measured run with NVIDIA's NeMo
  plan its logs name (config_DGXH100_1x8x4xtp4pp1cp1.sh: tp 4, sequence parallel, dp 2,
  micro-batch 1, global batch 8, fp8, no recompute, LoRA rank 16 on qkv and o; the plan
  of data/measured-finetune.csv), its node power read as node_wall (immersion-cooled: no
  server fans). Its tokens/s includes the evaluation passes (see power.md). The 8- and
  64-node runs publish no global batch or layout; the DC-side rows no measurement point.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tigris.errors import SpecError
from tigris.validate.hardware_names import chip_for_hardware

COLUMNS = (
    "id", "source", "hardware", "num_chips", "model", "scenario", "precision",
    "throughput_value", "throughput_unit", "power_w", "power_scope", "energy_j_per_token", "notes",
)  # fmt: skip
CHAT_INPUT_LEN = 256
MLPERF_LLAMA_LEN = 294
MLPERF_MAX_BATCH = 512

# (substring of the lower-cased model name, catalog id); first match wins
MODEL_IDS = (
    ("llama-2-7b", "llama2-7b"),
    ("meta-llama-3-8b", "llama3-8b"),
    ("llama-3.1-8b", "llama3-8b"),
    ("llama-3.1-70b", "llama3-70b"),
    ("llama-3.3-70b", "llama3-70b"),
    ("llama-3.1-405b", "llama3.1-405b"),
    ("mixtral-8x7b", "mixtral-8x7b"),
    ("llama2-70b-99", "llama2-70b"),
    # the newer families (Nemotron-Nano-v2 is a hybrid Mamba model: not modelled)
    ("llama-4-scout", "llama4-scout"),
    ("llama-4-maverick", "llama4-maverick"),
    ("qwen3-235b-a22b", "qwen3-235b-a22b"),
    ("30b-a3b", "qwen3-30b-a3b"),  # Qwen3-30B-A3B and Qwen3-Coder-30B-A3B: one architecture
    ("qwen3-32b", "qwen3-32b"),
    ("qwen3-14b", "qwen3-14b"),
    ("qwen3-8b", "qwen3-8b"),
    ("gpt-oss-120b", "gpt-oss-120b"),
    ("gpt-oss-20b", "gpt-oss-20b"),
    ("gemma-3-27b", "gemma3-27b"),
    ("gemma-3-12b", "gemma3-12b"),
)


@dataclass(frozen=True)
class RowSetup:
    """What a row ran, as tigris' models take it."""

    kind: str  # "serve" or "train" (batch: global batch, input_len: sequence length)
    model_id: str
    chip_id: str
    num_chips: int
    tp: int
    batch: int
    input_len: int
    output_len: int
    dtype: str
    power_cap_w: float | None
    scope: str  # "board" or "node_wall"
    tokens: str  # "output" or "input+output": what the row's throughput counts
    assumed: tuple[str, ...] = ()
    weight_dtype: str | None = None  # None: the compute dtype (fp4: mxfp4 checkpoints)
    plan: tuple[tuple[str, object], ...] = ()  # train rows: tigris.api.train's options


@dataclass(frozen=True)
class PowerRow:
    """One row of power.csv: its measurement and its setup or why it has none."""

    row_id: str
    source: str
    chip_label: str
    num_chips: int
    measured_power_w: float
    measured_j_per_token: float
    measured_tokens_per_s: float
    setup: RowSetup | None
    reason: str = ""
    raw: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


def default_power_csv() -> Path:
    return Path(str(resources.files("tigris.validate").joinpath("data", "power.csv")))


def read_power_rows(path: Path | None = None) -> list[PowerRow]:
    """Every row of `path` (default: the shipped power.csv), mapped or with a reason."""
    path = path or default_power_csv()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpecError(f"cannot read: {error}", file=str(path), key_path="--data") from None
    if not rows:
        raise SpecError("no rows", file=str(path), key_path="--data")
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise SpecError(
            f"missing column(s) {', '.join(missing[:5])}",
            file=str(path),
            key_path="--data",
            hint="the schema of shared/data/calibration/power.csv",
        )
    return [_power_row(raw, str(path), n + 2) for n, raw in enumerate(rows)]


def _number(raw: dict[str, str], key: str, path: str, line: int) -> float:
    try:
        value = float(raw[key])
    except (TypeError, ValueError):
        raise SpecError(
            f"line {line}: {key} is not a number: {str(raw[key])[:40]!r}", file=path
        ) from None
    if not value > 0:
        raise SpecError(f"line {line}: {key} must be positive, got {value:g}", file=path)
    return value


def _power_row(raw: dict[str, str], path: str, line: int) -> PowerRow:
    chips = int(_number(raw, "num_chips", path, line))
    setup, reason = map_row(raw, chips)
    return PowerRow(
        row_id=raw["id"],
        source=raw["source"],
        chip_label=raw["hardware"],
        num_chips=chips,
        measured_power_w=_number(raw, "power_w", path, line),
        measured_j_per_token=_number(raw, "energy_j_per_token", path, line),
        measured_tokens_per_s=_number(raw, "throughput_value", path, line),
        setup=setup,
        reason=reason,
        raw=raw,
    )


def _lookup(table: tuple[tuple[str, str], ...], name: str) -> str | None:
    name = name.lower()
    return next((target for key, target in table if key in name), None)


def _scope(raw: dict[str, str]) -> tuple[str | None, str]:
    scope = raw["power_scope"].lower()
    if "all gpus visible" in scope:
        return (
            None,
            "power sums every GPU of the node, idle ones included; their number is not recorded",
        )
    if scope.startswith("gpu only"):
        return "board", ""
    if "at the wall" in scope:
        return "node_wall", ""
    return None, f"power scope not modelled: {raw['power_scope'][:60]!r}"


def _dtype(raw: dict[str, str]) -> str:
    text = (raw["precision"] + " " + raw["model"]).lower()
    return "fp8" if "fp8" in text else "bf16"


def _weight_dtype(raw: dict[str, str]) -> str | None:
    """fp4 for an MXFP4 checkpoint (weight-only: see the module docstring)."""
    return "fp4" if "mxfp4" in (raw["precision"] + " " + raw["model"]).lower() else None


# The per-GPU power_limit of NVIDIA's MaxQ harness config for a (model, chip), which the
# partners' MaxQ submissions reuse: llama2-70b on H100-SXM, 450 W in NVIDIA's v4.0
# config (closed/NVIDIA/configs/llama2-70b/Offline/__init__.py) and in Dell's
# (mlcommons/inference_results_v4.0: closed/Dell/configs/llama2-70b/{Offline,Server}/
# __init__.py, H100_SXM_80GB_TP2x4_MaxQ: power_limit = 450, use_fp8, tensor_parallelism 2).
MAXQ_POWER_LIMIT_W = {("llama2-70b", "h100-sxm"): 450.0}


def _cap(raw: dict[str, str], model_id: str, chip_id: str) -> tuple[float | None, str]:
    """The per-GPU power limit of a MaxQ row: the one its notes state for its model, else
    the MaxQ config's for (model, chip) when the system is a MaxQ one; and what was
    assumed ('' when stated)."""
    match = re.search(r"(\S+) power_limit (\d+(?:\.\d+)?) W", raw["notes"])
    if match and model_id in match.group(1):
        return float(match.group(2)), ""
    if "maxq" not in raw.get("system_name", "").lower():
        return None, ""
    limit = MAXQ_POWER_LIMIT_W.get((model_id, chip_id))
    if limit is None:
        return None, "MaxQ system, its cap not stated or known: uncapped"
    return limit, f"MaxQ cap {limit:g} W (the submitters' MaxQ harness config)"


def map_row(raw: dict[str, str], chips: int) -> tuple[RowSetup | None, str]:
    """The row's setup, or None and why it cannot be mapped."""
    if raw.get("category") == "train_power" or "train" in raw["throughput_unit"].lower():
        return _lora_setup(raw, chips)
    model_id = _lookup(MODEL_IDS, raw["model"])
    if model_id is None:
        return None, f"model not in the catalog: {raw['model'][:50]}"
    chip_id = chip_for_hardware(raw["hardware"])
    if chip_id is None:
        return None, f"chip not in the catalog: {raw['hardware'][:50]}"
    scope, why = _scope(raw)
    if scope is None:
        return None, why
    dtype = _dtype(raw)
    if raw["id"].startswith("MLPI"):
        return _mlperf_setup(raw, model_id, chip_id, chips, dtype, scope)
    return _sweep_setup(raw, model_id, chip_id, chips, dtype, scope)


def _sweep_setup(raw, model_id, chip_id, chips, dtype, scope) -> tuple[RowSetup | None, str]:
    """ML.ENERGY and Argonne rows: the batch and lengths are in the scenario or notes."""
    text = raw["scenario"] + " " + raw["notes"]
    assumed: list[str] = []
    if raw["id"].startswith("ANL"):
        batch = _int(r"batch (\d+)", text)
        lengths = _int(r"input=output=(\d+)", text)
        inp = out = lengths or 0
        tokens = "input+output"
    else:
        batch = _avg(r"avg[ _]batch[ =](\d+(?:\.\d+)?)", text)
        out = _avg(r"avg_out_len=(\d+(?:\.\d+)?)", text) or _avg(
            r"Avg Output Tokens \((\d+(?:\.\d+)?)\)", text
        )
        inp, tokens = CHAT_INPUT_LEN, "output"
        assumed.append(f"input_len {CHAT_INPUT_LEN} (not in the row)")
    if not batch or not out:
        return None, "batch or output length not stated"
    if raw["hardware"] in ("NVIDIA A100 GPU", "NVIDIA H100 GPU"):
        assumed.append(f"{raw['hardware']} read as {chip_id} (hardware_names rule)")
    weights = _weight_dtype(raw)
    if weights:
        assumed.append("mxfp4: fp4 weights, bf16 compute (W4A16), experts and dense alike")
    return RowSetup(
        "serve", model_id, chip_id, chips, chips, batch, inp, out, dtype, None, scope, tokens,
        tuple(assumed), weights,
    ), ""  # fmt: skip


def _mlperf_setup(raw, model_id, chip_id, chips, dtype, scope) -> tuple[RowSetup | None, str]:
    if model_id != "llama2-70b":
        return None, f"MLPerf setup not mapped for {raw['model'][:40]}"
    assumed = (
        f"input/output {MLPERF_LLAMA_LEN} tokens (OpenOrca mean)",
        f"largest batch that fits, up to {MLPERF_MAX_BATCH} per replica",
        "tp 2 (NVIDIA v4.0 config)",
        "fp8 (every H100 llama2-70b closed submission)",
    )
    cap, cap_assumed = _cap(raw, model_id, chip_id)
    assumed += (cap_assumed,) if cap_assumed else ()
    length = MLPERF_LLAMA_LEN
    return RowSetup(
        "serve", model_id, chip_id, chips, 2, MLPERF_MAX_BATCH, length, length, "fp8",
        cap, scope, "output", assumed,
    ), ""  # fmt: skip


# NVIDIA's MLPerf Training v4.0 NeMo config for 1 DGX H100 (config_DGXH100_1x8x4xtp4pp1cp1)
LORA_PLAN = (("tp", 4), ("pp", 1), ("cp", 1), ("dp", 2), ("micro_batch", 1),
             ("sequence_parallel", True), ("recompute", "none"), ("finetune", "lora"),
             ("lora_rank", 16), ("lora_targets", "qkv,o"))  # fmt: skip
LORA_GLOBAL_BATCH, LORA_SEQ_LEN = 8, 8192


def _lora_setup(raw: dict[str, str], chips: int) -> tuple[RowSetup | None, str]:
    """MLPerf Training llama2_70b_lora: the 1-node AC row with NVIDIA's published plan."""
    if "lora" not in raw["model"].lower() or "llama2-70b" not in raw["model"].lower():
        return None, f"training row not mapped: {raw['model'][:40]}"
    if "ac-measured" not in raw["scenario"].lower():
        return None, "DC-side node power: the measurement point is not documented"
    if chips != 8:
        return None, f"{chips}-chip run: its global batch and layout are not published"
    chip_id = chip_for_hardware(raw["hardware"])
    if chip_id is None:
        return None, f"chip not in the catalog: {raw['hardware'][:50]}"
    assumed = ("NeMo plan config_DGXH100_1x8x4xtp4pp1cp1 (tp 4, dp 2, gbs 8, fp8, LoRA 16)",
               "node power as node_wall (immersion-cooled, no server fans)",
               "tokens/s includes the evaluation passes")  # fmt: skip
    return RowSetup(
        "train", "llama2-70b", chip_id, chips, 4, LORA_GLOBAL_BATCH, LORA_SEQ_LEN, 0, "fp8",
        None, "node_wall", "input", assumed, None, LORA_PLAN,
    ), ""  # fmt: skip


def _int(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else None


def _avg(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return max(1, round(float(match.group(1)))) if match else None
