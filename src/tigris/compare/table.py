"""The comparison as rows of formatted text: terminal tables (rich) and the report's tables
share them. The only place in tigris.compare that formats units."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tigris.compare.cell import Cell
from tigris.compare.runner import Comparison
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


TRAIN_HEADERS = (
    "chip",
    "best plan",
    "step time",
    "tokens/s",
    "tokens/s/chip",
    "MFU",
    "memory/chip (used / usable)",
    "$/M tokens",
    "J/token",
    "power/chip",
)
SERVE_HEADERS = (
    "chip",
    "best layout",
    "TTFT",
    "TPOT",
    "tokens/s/chip",
    "MFU",
    "memory/chip",
    "$/M tokens",
    "J/token",
    "power/chip",
)


def workload_rows(comparison: Comparison, workload: str) -> list[list[str]]:
    """One row per chip; a chip that cannot run the workload has its reason as the plan."""
    rows = []
    for cell in comparison.cells_of(workload):
        if not cell.ran:
            rows.append([cell.chip_id, f"cannot run: {cell.reason}"] + [DASH] * 8)
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
                ]
            )
    return rows


CHIP_HEADERS = (
    "chip",
    "node",
    "dies",
    "die area (model)",
    "silicon (all dies)",
    "manufacturing cost",
    "capex/chip",
    "TDP model / spec",
    "$/chip-hour",
)


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
                f"{_q(s.estimated_tdp_w, 'power')} / {spec_tdp}",
                hourly or DASH,
            ]
        )
    return rows


CHECK_HEADERS = (
    "chip",
    "die",
    "area model",
    "area published",
    "error (<= 20%)",
    "TDP model",
    "TDP published",
    "error (<= 25%)",
)


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


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for index, header in enumerate(headers):
        table.add_column(header, no_wrap=index == 0, justify="left" if index < 2 else "right")
    for row in rows:
        failed = row[1].startswith("cannot run")
        table.add_row(*row, style="red" if failed else None)
    return table


def print_tables(comparison: Comparison, console: Console) -> None:
    for workload in comparison.workloads:
        headers = TRAIN_HEADERS if workload.kind == "train" else SERVE_HEADERS
        title = f"{workload.name}: {workload.describe()}"
        console.print(_table(title, headers, workload_rows(comparison, workload.name)))
    console.print(
        _table(
            "Chips: the cost model's estimates (* = an input assumed)",
            CHIP_HEADERS,
            chip_rows(comparison),
        )
    )
    console.print(
        _table(
            "Sanity checks: model (from public specs alone) vs published die area and TDP",
            CHECK_HEADERS,
            check_rows(comparison),
        )
    )
    basis = comparison.assumptions.operations.price_basis
    console.print(
        f"$ on the '{basis}' basis (operations.price_basis; package.capex_basis = "
        f"'{comparison.assumptions.package.capex_basis}'); every assumption is listed in the "
        "report and can be changed with --set key=value or --assumptions FILE."
    )
