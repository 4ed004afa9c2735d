"""The two-column table of `tigris validate CATEGORY`: rows, in-sample and held-out error
per source and per chip (tigris.validate.protocol.summarize_groups), and the unmapped rows."""

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_groups(groups: list[dict[str, Any]], title: str, holdout: str) -> None:
    """One line per group: rows, fitted rows, in-sample and held-out MAPE side by side."""
    table = Table(title=f"{title}: mean |error| %, in-sample vs held-out (by {holdout})")
    has_category = any("category" in group for group in groups)
    has_memory = any(group.get("memory_failures") for group in groups)
    columns = ["category"] if has_category else []
    columns += ["group", "name", "rows", "fitted", "in-sample", "held-out", "in 80% band"]
    columns += ["memory failures"] if has_memory else []
    for column in columns:
        table.add_column(column)
    for group in groups:
        held_out = _pct(group["held_out_mape"])
        in_sample = group["status"] or _pct(group["in_sample_mape"])
        cells = [group["category"]] if has_category else []
        cells += [group["group"], group["name"], str(group["rows"]), str(group["fitted_rows"])]
        coverage = group.get("interval_coverage")
        cells += [in_sample, held_out, "-" if coverage is None else f"{coverage:.0%}"]
        cells += [str(group["memory_failures"])] if has_memory else []
        table.add_row(*cells, style="bold" if group["group"] == "all" else None)
    Console().print(table)


def print_error_summary(label: str, summary: dict[Any, tuple]) -> None:
    """One line per key of a validator's summary: rows, mean and max |error| %, mean signed
    error % (the in-sample table printed before the two-column one)."""
    print(f"{label:<28} {'rows':>5} {'mean |err| %':>13} {'max |err| %':>12} {'mean err %':>11}")
    for key, (count, mean_abs, max_abs, signed) in summary.items():
        name = " ".join(key) if isinstance(key, tuple) else str(key)
        print(f"{name:<28} {count:>5} {mean_abs:>13.1f} {max_abs:>12.1f} {signed:>+11.1f}")


def print_unmapped(unmapped: list[Any]) -> None:
    """Rows that could not be mapped, each with its reason (never dropped silently)."""
    if not unmapped:
        return
    console = Console()
    console.print(f"{len(unmapped)} rows not mapped:")
    for row in unmapped:
        console.print(f"  {row.id}: {row.reason}", markup=False, highlight=False)
