"""One cell of the comparison: a workload on a chip, or the reason it cannot run there.

Everything is SI (seconds, bytes, joules, watts, dollars); formatting is the report's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tigris.cost import Assumptions, EnergyPerToken, tco, usd_per_million_tokens
from tigris.engines.base import OpTime
from tigris.errors import TigrisError
from tigris.hardware.chip import Chip


@dataclass(frozen=True)
class Cell:
    """A workload's best result on one chip. `reason` is set (and the figures are None)
    when the chip cannot run the workload."""

    workload: str
    kind: str  # "train" | "serve"
    chip_id: str
    reason: str | None = None
    plan: dict[str, object] = field(default_factory=dict)
    time_s: float | None = None  # train: step time; serve: TPOT
    ttft_s: float | None = None
    tokens_per_s: float | None = None  # the whole run (train) or one deployment (serve)
    tokens_per_s_per_chip: float | None = None
    mfu: float | None = None
    memory_per_chip_bytes: float | None = None
    memory_capacity_bytes: float | None = None
    fits: bool | None = None
    energy_per_token_j: float | None = None
    power_w_per_chip: float | None = None
    power_cap_slowdown: float | None = None
    usd_per_chip_hour: float | None = None
    usd_per_million_tokens: float | None = None
    cost_note: str | None = None
    power_breakdown_w: dict[str, float] = field(default_factory=dict)  # per chip (price())
    breakdown: dict[str, float] = field(default_factory=dict)  # where the time goes, s
    extra: dict[str, object] = field(default_factory=dict)
    ops: tuple[OpTime, ...] = ()
    num_plans_searched: int = 0
    # the 80 % band of the headline (train: step time; serve: tokens/s per chip) from
    # held-out validation rows (tigris.report.prediction_bands), and whether the chip's
    # efficiencies were fitted on measurements (False: defaults, a wider band)
    interval: dict[str, object] | None = None
    calibrated: bool | None = None

    @property
    def ran(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, object]:
        out = {
            key: getattr(self, key)
            for key in (
                "workload",
                "kind",
                "chip_id",
                "reason",
                "plan",
                "time_s",
                "ttft_s",
                "tokens_per_s",
                "tokens_per_s_per_chip",
                "mfu",
                "memory_per_chip_bytes",
                "memory_capacity_bytes",
                "fits",
                "energy_per_token_j",
                "power_w_per_chip",
                "power_cap_slowdown",
                "usd_per_chip_hour",
                "usd_per_million_tokens",
                "cost_note",
                "power_breakdown_w",
                "breakdown",
                "extra",
                "num_plans_searched",
                "interval",
                "calibrated",
            )
        }
        out["num_ops"] = len(self.ops)
        return out


def with_interval(cell: Cell, chip: Chip, dtype: str) -> Cell:
    """The cell with the band of its headline figure and the chip's calibration state."""
    from dataclasses import replace

    from tigris.report.prediction_bands import chip_band

    if not cell.ran:
        return cell
    calibrated = bool(chip.calibration.fitted_on)
    if cell.kind == "train":
        band = chip_band("train", cell.time_s, chip, metric="time_s", precision=dtype)  # type: ignore[arg-type]
    else:
        band = chip_band("infer", cell.tokens_per_s_per_chip, chip,  # type: ignore[arg-type]
                         metric="tokens_per_s_per_chip", precision=dtype, rate=True)  # fmt: skip
    return replace(cell, interval=band, calibrated=calibrated)


def failed(workload: str, kind: str, chip_id: str, error: Exception) -> Cell:
    """The cell of a chip that cannot run the workload, with the error's one-line reason."""
    reason = getattr(error, "reason", None) or str(error).splitlines()[0]
    return Cell(workload=workload, kind=kind, chip_id=chip_id, reason=reason)


def price(
    chip: Chip,
    assumptions: Assumptions,
    energy: EnergyPerToken,
    tokens_per_s_per_chip: float,
) -> dict[str, object]:
    """$ per chip-hour at the workload's power and $ per million tokens, or a note why not
    (a cloud price basis for a chip without a public price)."""
    breakdown = dict(energy.power_breakdown_w)  # the report's energy bar
    try:
        hourly = tco(chip, assumptions, power_w=energy.power_w_per_chip)
        usd_per_hour = hourly.usd_per_chip_hour
    except TigrisError as error:
        return {"cost_note": str(error).splitlines()[0], "power_breakdown_w": breakdown}
    return {
        "power_breakdown_w": breakdown,
        "usd_per_chip_hour": usd_per_hour,
        "usd_per_million_tokens": usd_per_million_tokens(usd_per_hour, tokens_per_s_per_chip),
    }
