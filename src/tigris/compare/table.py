"""The comparison as rows of formatted text: the terminal tables (tigris.cli.compare) and
the report's tables share them. The only place in tigris.compare that formats units."""

from __future__ import annotations

from tigris.compare.cell import Cell
from tigris.compare.runner import Comparison
from tigris.report.columns import Column
from tigris.units import format_quantity

DASH = "-"


def _q(value: float | None, dimension: str, digits: int = 3) -> str:
    return DASH if value is None else format_quantity(value, dimension, digits)


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return DASH if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _usd(value: float | None) -> str:
    if value is None:
        return DASH
    return f"${value:,.0f}" if value >= 100 else f"${value:.3g}"


def plan_text(cell: Cell) -> str:
    p = cell.plan
    if cell.kind == "serve":
        replicas = f"{p['replicas']} replica" + ("s" if p["replicas"] > 1 else "")
        return f"tp {p['tp']} x {replicas}, batch {p['batch']}"
    text = f"tp {p['tp']} pp {p['pp']} dp {p['dp']}"
    if p.get("cp", 1) > 1:
        text += f" cp {p['cp']}"
    if p.get("ep", 1) > 1:
        text += f" ep {p['ep']}"
    text += f", mb {p['micro_batch']}"
    if p.get("virtual_stages", 1) > 1:
        text += f" v {p['virtual_stages']}"
    if p.get("recompute") != "none":
        text += f", recompute {p['recompute']}"
    return text + f", ZeRO-{p['zero']}"


def memory_text(cell: Cell) -> str:
    if cell.memory_per_chip_bytes is None or cell.memory_capacity_bytes is None:
        return DASH
    used = format_quantity(cell.memory_per_chip_bytes, "capacity", 3)
    whole = format_quantity(cell.memory_capacity_bytes, "capacity", 3)
    return f"{used} / {whole}" + ("" if cell.fits else " (over)")


def cost_text(cell: Cell) -> str:
    if cell.usd_per_million_tokens is None:
        return cell.cost_note or DASH
    return _usd(cell.usd_per_million_tokens)


def power_text(cell: Cell) -> str:
    text = _q(cell.power_w_per_chip, "power")
    if cell.power_cap_slowdown and cell.power_cap_slowdown > 1.0005:
        text += f" (TDP cap, x{cell.power_cap_slowdown:.2f} time)"
    return text


def band_text(cell: Cell) -> str:
    """The headline's 80 % band as percentages of it, and whether the chip is uncalibrated
    (efficiencies at their defaults: a band from chips run that way)."""
    band, value = cell.interval, cell.time_s if cell.kind == "train" else cell.tokens_per_s_per_chip
    if not band or not value:
        return DASH
    text = f"{band['low'] / value - 1:+.0%} .. {band['high'] / value - 1:+.0%}"  # type: ignore[operator]
    return text if cell.calibrated else text + " (uncalibrated)"


TRAIN_COLUMNS = (
    Column("chip"),
    Column("best plan", 3),
    Column("step time", 2, numeric=True, justify="right"),
    Column("tokens/s", 6, numeric=True, justify="right"),
    Column("tokens/s per chip", 1, numeric=True, justify="right"),
    Column("MFU", 1, numeric=True, justify="right"),
    Column("memory per chip (used / usable)", 5, justify="right"),
    Column("$/M tokens", 1, justify="right"),
    Column("J/token", 4, numeric=True, justify="right"),
    Column("power per chip", 7, justify="right"),
    Column("80 % band", 5, justify="right"),
)
SERVE_COLUMNS = (
    Column("chip"),
    Column("best layout", 3),
    Column("TTFT", 2, numeric=True, justify="right"),
    Column("TPOT", 2, numeric=True, justify="right"),
    Column("tokens/s per chip", 1, numeric=True, justify="right"),
    Column("MFU", 5, numeric=True, justify="right"),
    Column("memory per chip", 6, justify="right"),
    Column("$/M tokens", 1, justify="right"),
    Column("J/token", 4, numeric=True, justify="right"),
    Column("power per chip", 7, justify="right"),
    Column("80 % band", 5, justify="right"),
)
TRAIN_HEADERS = tuple(column.header for column in TRAIN_COLUMNS)
SERVE_HEADERS = tuple(column.header for column in SERVE_COLUMNS)


def workload_rows(comparison: Comparison, workload: str) -> list[list[str]]:
    """One row per chip; a chip that cannot run the workload has its reason as the plan."""
    rows = []
    for cell in comparison.cells_of(workload):
        if not cell.ran:
            rows.append([cell.chip_id, f"cannot run: {cell.reason}"] + [DASH] * 9)
            continue
        if cell.kind == "train":
            rows.append(
                [
                    cell.chip_id,
                    plan_text(cell),
                    _q(cell.time_s, "time"),
                    _num(cell.tokens_per_s),
                    _num(cell.tokens_per_s_per_chip),
                    _pct(cell.mfu),
                    memory_text(cell),
                    cost_text(cell),
                    _q(cell.energy_per_token_j, "energy"),
                    power_text(cell),
                    band_text(cell),
                ]
            )
        else:
            rows.append(
                [
                    cell.chip_id,
                    plan_text(cell),
                    _q(cell.ttft_s, "time"),
                    _q(cell.time_s, "time"),
                    _num(cell.tokens_per_s_per_chip),
                    _pct(cell.mfu),
                    memory_text(cell),
                    cost_text(cell),
                    _q(cell.energy_per_token_j, "energy"),
                    power_text(cell),
                    band_text(cell),
                ]
            )
    return rows


CHIP_COLUMNS = (
    Column("chip"),
    Column("node", 5, numeric=True, justify="right"),
    Column("dies", 6, numeric=True, justify="right"),
    Column("die area (model)", 3, justify="right"),
    Column("silicon (all dies)", 7, justify="right"),
    Column("manufacturing cost", 2, numeric=True, justify="right"),
    Column("capex per chip", 1, numeric=True, justify="right"),
    Column("capex basis", 1),
    Column("TDP model / spec", 4, justify="right"),
    Column("$ per chip-hour", 1, justify="right"),
)
CHIP_HEADERS = tuple(column.header for column in CHIP_COLUMNS)


def capex_basis_text(basis: str, fallback: bool) -> str:
    return f"{basis} (no price)" if fallback else basis


def chip_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for chip_id in comparison.chips:
        s = comparison.summaries[chip_id]
        area = format_quantity(s.die_area_mm2, "area", 3)
        if s.exceeds_reticle:
            area += " (over reticle)"
        if s.assumed:
            area += " *"
        spec_tdp = _q(s.tdp_w, "power") if s.tdp_w else "unpublished"
        hourly = _usd(s.usd_per_chip_hour) if s.usd_per_chip_hour is not None else s.cost_note
        rows.append(
            [
                chip_id,
                f"{s.node_nm:g} nm",
                str(s.num_dies),
                area,
                format_quantity(s.total_area_mm2, "area", 4),
                _usd(s.manufacturing_cost_usd),
                _usd(s.capex_usd),
                capex_basis_text(s.capex_basis, s.capex_fallback),
                f"{_q(s.estimated_tdp_w, 'power')} / {spec_tdp}",
                hourly or DASH,
            ]
        )
    return rows


CHECK_COLUMNS = (
    Column("chip"),
    Column("die", 6),
    Column("area model", 2, numeric=True, justify="right"),
    Column("area published", 3, numeric=True, justify="right"),
    Column("error (<= 20%)", 1, numeric=True, justify="right"),
    Column("TDP model", 2, numeric=True, justify="right"),
    Column("TDP published", 3, numeric=True, justify="right"),
    Column("error (<= 25%)", 1, numeric=True, justify="right"),
)
CHECK_HEADERS = tuple(column.header for column in CHECK_COLUMNS)


def check_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for c in comparison.checks:
        rows.append(
            [
                c.chip_id,
                c.die,
                format_quantity(c.model_die_area_mm2, "area", 3),
                format_quantity(c.published_die_area_mm2, "area", 3),
                f"{100 * c.area_error:+.0f}% {'ok' if c.area_ok else 'OUT'}",
                format_quantity(c.model_tdp_w, "power", 3),
                format_quantity(c.published_tdp_w, "power", 3),
                f"{100 * c.tdp_error:+.0f}% {'ok' if c.tdp_ok else 'OUT'}",
            ]
        )
    return rows


def capex_fallback_note(comparison: Comparison) -> str | None:
    """One line naming the chips costed at manufacturing cost although the assumptions
    ask for purchase prices (they have none), or None."""
    fallen = comparison.capex_fallbacks()
    if not fallen:
        return None
    priced = [c for c in comparison.chips if comparison.summaries[c].capex_basis == "purchase"]
    against = (
        f", while {', '.join(priced)} use purchase prices: $ across the two are not comparable"
        if priced
        else ""
    )
    return (
        f"package.capex_basis is 'purchase', but {', '.join(fallen)} have no reported price "
        f"(package.chip_price_usd), so their capex is the modelled manufacturing cost{against}; "
        "give prices with --set package.chip_price_usd.ID=USD"
    )


def _with_basis(comparison: Comparison, rows: list[list[str]], index: int) -> list[list[str]]:
    """Mark each $ cell with its chip's capex basis when the chips' bases differ."""
    if not comparison.capex_fallbacks() or comparison.assumptions.operations.price_basis != "capex":
        return rows
    short = {"purchase": "purchase", "manufacturing": "mfg"}
    for row in rows:  # row[0] is the chip's label
        if row[index].startswith("$"):
            row[index] += f" ({short[comparison.summaries[row[0]].capex_basis]})"
    return rows


def workload_table_rows(comparison: Comparison, workload: str) -> list[list[str]]:
    """The workload's rows as the tables show them: $ marked with the capex basis when
    the chips' bases differ."""
    return _with_basis(comparison, workload_rows(comparison, workload), 7)
