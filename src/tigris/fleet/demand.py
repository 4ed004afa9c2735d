"""The demand file of `tigris plan` (`demand.yaml`): what a cloud must run (serving
services, training runs, fine-tuning jobs), what it may buy (the supply menu) and within
what (power budget at the wall, PUE, electricity price, lifetime).

    services:            # serving: traffic in requests/s, p99 SLOs
      - name: chat
        model: llama3-70b
        traffic: {rate: 400, daily_profile: [0.5, ..., 1.2]}   # 24 hourly multipliers
        input_len: 1155
        output_len: 211
        slo: {ttft_p99_s: 2.0, tpot_p99_s: 0.1}
        growth: 0.2      # plan for the rate x (1 + growth)
    training:            # pre-training runs; fine_tuning: the same fields
      - {name: dense, model: llama3.1-405b, tokens: 15.6e12, deadline_days: 90, seq_len: 8192}
    supply:              # the menu: a chip id or YAML file, its price, how many exist
      - {chip: h100-sxm, price_usd_per_chip: 30000, max_chips: 40000, chips_per_rack: 32}
    constraints: {power_budget_mw: 150, pue: 1.1, electricity_usd_per_kwh: 0.08, lifetime_years: 5}

Every mistake is a SpecError naming the file and the key path (`services[1].slo`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tigris.errors import SpecError, given
from tigris.hardware.chip import Chip
from tigris.hardware.quantities import Spec

HOURS_PER_DAY = 24
MAX_COUNT = 2**31 - 1


class Traffic(Spec):
    """A service's arrivals: `rate` requests/s at profile multiplier 1, shaped over the
    day by 24 hourly multipliers; or a trace (a shipped one's name, azure-conv or
    azure-code, or a CSV/JSONL file) whose requests' lengths and arrival pattern are
    replayed (tigris.fleet.traffic), at its own mean rate unless `rate` is given."""

    rate: float | None = Field(None, gt=0, description="requests/s at multiplier 1")
    daily_profile: list[float] = Field(default_factory=lambda: [1.0] * HOURS_PER_DAY)
    trace: str | None = Field(
        None, description="azure-conv, azure-code, or a trace file relative to the demand file"
    )

    @field_validator("daily_profile")
    @classmethod
    def _hourly(cls, profile: list[float]) -> list[float]:
        if len(profile) != HOURS_PER_DAY:
            raise ValueError(f"needs {HOURS_PER_DAY} hourly multipliers, got {len(profile)}")
        if min(profile) < 0 or max(profile) <= 0:
            raise ValueError("multipliers must be >= 0 with at least one above 0")
        return profile

    @model_validator(mode="after")
    def _rate_or_trace(self) -> Traffic:
        if self.rate is None and self.trace is None:
            raise ValueError("give a rate (requests/s) or a trace file")
        return self


class Slo(Spec):
    """p99 latency targets of a service."""

    ttft_p99_s: float = Field(gt=0, description="time to first token, p99")
    tpot_p99_s: float = Field(gt=0, description="time per output token, p99")


class Service(Spec):
    """A serving service: a model under traffic with p99 SLOs."""

    name: str = Field(min_length=1, max_length=80)
    model: str = Field(min_length=1)
    traffic: Traffic
    input_len: int | None = Field(None, gt=0, le=MAX_COUNT, description="mean prompt tokens")
    output_len: int | None = Field(None, gt=0, le=MAX_COUNT, description="mean output tokens")
    slo: Slo
    growth: float = Field(0.0, ge=0, description="plan for the rate x (1 + growth)")
    dtype: str = "bf16"

    @model_validator(mode="after")
    def _lengths(self) -> Service:
        if self.traffic.trace is None and (self.input_len is None or self.output_len is None):
            raise ValueError("input_len and output_len are needed without a trace")
        if self.traffic.trace is not None and (self.input_len or self.output_len):
            raise ValueError("a trace gives the lengths: drop input_len and output_len")
        return self


class TrainingRun(Spec):
    """A training run (or a fine-tuning job): `tokens` by `deadline_days`."""

    name: str = Field(min_length=1, max_length=80)
    model: str = Field(min_length=1)
    tokens: float = Field(gt=0)
    deadline_days: float = Field(gt=0)
    seq_len: int = Field(gt=0, le=2**24)
    global_batch: int | None = Field(None, gt=0, le=2**24, description="sequences per step")
    dtype: str = "bf16"


class SupplySystem(Spec):
    """One system on the menu: a chip (catalog id or YAML file; from Python also a Chip
    object, as a design of an explore sweep is: tigris.fleet.design_sweep) in its system."""

    chip: str | Chip
    name: str | None = Field(None, min_length=1, max_length=80)
    system: str | None = Field(None, description="system id or YAML; default the chip's")
    price_usd_per_chip: float | None = Field(
        None, gt=0, description="purchase price; default the cost model's estimate"
    )
    max_chips: int | None = Field(None, gt=0, le=MAX_COUNT, description="availability")
    chips_per_rack: int | None = Field(None, gt=0, le=MAX_COUNT)

    @field_validator("chip", mode="before")
    @classmethod
    def _named_chip(cls, chip: object) -> object:
        if isinstance(chip, Chip):
            return chip
        if not isinstance(chip, str) or not chip.strip():
            raise ValueError("give a chip id (tigris chips) or a chip YAML file")
        return chip

    @property
    def label(self) -> str:
        return self.name or chip_name(self.chip)


def chip_name(chip: str | Chip) -> str:
    """A chip's short name: its id, or its file's name without the suffix."""
    return chip.id if isinstance(chip, Chip) else Path(chip).stem


class Constraints(Spec):
    """The data centre: power budget at the nodes' wall plugs, PUE, electricity price
    and the lifetime capex is spread over (defaults: the cost assumptions' figures)."""

    power_budget_mw: float = Field(gt=0, description="MW at the wall (IT load)")
    pue: float | None = Field(None, ge=1, le=5)
    electricity_usd_per_kwh: float | None = Field(None, ge=0)
    lifetime_years: float | None = Field(None, gt=0, le=50)


class Settings(Spec):
    """How candidates are evaluated: simulated requests per serving run, the seed, the
    tensor-parallel widths tried for serving, how request lengths are drawn around their
    means. Exponential by default: its median is 0.69 of its mean, as in the Azure 2023
    traces (conversation output 129 / 211 = 0.61, code prompt 1,469 / 2,048 = 0.72;
    ../shared/data/traces/README.md), with a lighter tail than the lognormal's."""

    num_requests: int = Field(200, ge=20, le=100_000)
    seed: int = Field(0, ge=0)
    tp: list[int] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1)
    length_dist: Literal["fixed", "uniform", "exponential", "lognormal"] = "exponential"

    @field_validator("tp")
    @classmethod
    def _positive(cls, widths: list[int]) -> list[int]:
        if min(widths) < 1:
            raise ValueError("tensor-parallel widths must be >= 1")
        return sorted(set(widths))


class Demand(Spec):
    """The whole demand file."""

    services: list[Service] = Field(default_factory=list)
    training: list[TrainingRun] = Field(default_factory=list)
    fine_tuning: list[TrainingRun] = Field(default_factory=list)
    supply: list[SupplySystem] = Field(min_length=1)
    constraints: Constraints
    settings: Settings = Field(default_factory=Settings)

    @property
    def runs(self) -> list[TrainingRun]:
        """Training runs and fine-tuning jobs (planned alike)."""
        return [*self.training, *self.fine_tuning]

    @model_validator(mode="after")
    def _names(self) -> Demand:
        if not self.services and not self.runs:
            raise ValueError("nothing to plan: give services, training or fine_tuning")
        for what, names in (
            ("service/run", [s.name for s in self.services] + [r.name for r in self.runs]),
            ("supply", [s.label for s in self.supply]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{what} names repeat: {given(repeated[0])}")
        return self


def load_demand(path: str | Path) -> Demand:
    """The demand file, validated; chip, system and trace files named in it are taken
    relative to the file's folder; every model and chip named must load (SpecError
    naming the key path otherwise)."""
    from tigris.io.loader import load_mapping, validate_spec

    file = str(path)
    demand = validate_spec(Demand, load_mapping(path), file=file)
    demand = _relative_paths(demand, Path(path).parent)
    check_references(demand, file)
    return demand


def _relative_paths(demand: Demand, folder: Path) -> Demand:
    """Names of files (ending .yaml/.yml, or containing a /) resolved against `folder`."""

    def where(name: str | Chip | None) -> str | Chip | None:
        if not isinstance(name, str) or not _is_path(name) or Path(name).is_absolute():
            return name
        return str(folder / name)

    supply = [
        s.model_copy(update={"chip": where(s.chip), "system": where(s.system)})
        for s in demand.supply
    ]
    services = [
        s.model_copy(
            update={"traffic": s.traffic.model_copy(update={"trace": where(s.traffic.trace)})}
        )
        for s in demand.services
    ]
    return demand.model_copy(update={"supply": supply, "services": services})


def _is_path(name: str) -> bool:
    return "/" in name or name.endswith((".yaml", ".yml", ".json", ".csv", ".jsonl"))


def check_references(demand: Demand, file: str) -> None:
    """Every chip, system and model named loads; a dtype the chip lacks is refused here."""
    from tigris.api.inputs import resolve_chip, resolve_model, resolve_system

    def located(key: str, load) -> object:  # type: ignore[no-untyped-def]
        try:
            return load()
        except SpecError as error:
            if error.file:  # a mistake inside the chip's or system's own file: it names it
                raise
            raise SpecError(error.message, file=file, key_path=key, hint=error.hint) from None

    for index, system in enumerate(demand.supply):
        chip = located(f"supply[{index}].chip", lambda s=system: resolve_chip(s.chip))
        located(f"supply[{index}].system", lambda s=system, c=chip: resolve_system(s.system, c))
    for key, items in (("services", demand.services), ("training", demand.training),
                       ("fine_tuning", demand.fine_tuning)):  # fmt: skip
        for index, item in enumerate(items):
            located(f"{key}[{index}].model", lambda m=item.model: resolve_model(m))
    for index, service in enumerate(demand.services):
        if service.traffic.trace is not None:
            from tigris.fleet.traffic import trace_window

            located(f"services[{index}].traffic.trace",
                    lambda s=service: trace_window(s, demand.settings))  # fmt: skip
