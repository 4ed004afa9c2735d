"""`tigris plan`: the fleet a cloud should buy for its demand (tigris.fleet)."""

import json
import sys
from typing import Annotated, Any

import typer

from tigris.errors import SpecError

Repeated = list[str] | None


def plan_command(
    demand: Annotated[
        str, typer.Argument(help="The demand file (services, runs, supply, constraints).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    html: Annotated[str | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    svg: Annotated[
        str | None, typer.Option("--svg", help="Write the fleet-mix plot as SVG here.")
    ] = None,
    replace: Annotated[
        Repeated,
        typer.Option(
            "--replace",
            help="What if OLD on the menu were NEW: OLD=NEW, e.g. h100-sxm=tigris-1 (repeatable).",
        ),
    ] = None,
    add: Annotated[
        Repeated,
        typer.Option("--add", help="What if this chip (id or YAML) were on the menu (repeatable)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=1024, help="Evaluate candidates on N local processes."
        ),
    ] = 1,
    ray: Annotated[bool, typer.Option("--ray", help="Evaluate candidates as Ray tasks.")] = False,
    mkdir: Annotated[
        bool, typer.Option("--mkdir", help="Create missing parent folders of --html/--svg.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Choose the fleet (chips per system) that serves every service within its SLOs and
    trains every run by its deadline at the lowest TCO within the power budget: a
    mixed-integer program (HiGHS) over candidates from the serving and training models.
    Exit 3 when no fleet fits, naming the constraint that binds."""
    require_scipy()
    from tigris.io.output import check_output_path

    for path, option in ((html, "--html"), (svg, "--svg")):
        if path:  # a bad path fails now, before minutes of work
            check_output_path(path, option=option, mkdir=mkdir)
    if ray:
        from tigris.fleet.execute import require_ray

        require_ray()
    data = run_plan(demand, replace or [], add or [], workers, ray, quiet)
    _write(data, html, svg, mkdir)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")
    else:
        print_plan(data)


def require_scipy() -> None:
    """One line naming the install command when scipy (HiGHS) is missing."""
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        raise SpecError("tigris plan needs scipy (HiGHS): pip install 'tigris[plan]'") from None


def run_plan(
    demand: str, replace: list[str], add: list[str], workers: int, ray: bool, quiet: bool
) -> dict[str, Any]:
    """The baseline plan's dictionary, with `what_if` when the menu is changed."""
    from tigris.cli.progress import Progress
    from tigris.fleet.demand import load_demand
    from tigris.fleet.plan import plan_fleet
    from tigris.fleet.whatif import apply_changes, what_if

    spec = load_demand(demand)
    if replace or add:
        apply_changes(spec, replace, add)  # a bad --replace/--add fails before the work
    with Progress("plan: candidates", quiet=quiet) as bar:
        plan, candidates = plan_fleet(spec, workers=workers, ray=ray, progress=bar.update)
    data = plan.to_dict()
    if replace or add:
        with Progress("plan: what-if candidates", quiet=quiet) as bar:
            data["what_if"] = what_if(spec, data, candidates, replace=replace, add=add,
                                      workers=workers, ray=ray, progress=bar.update)  # fmt: skip
    return data


def _write(data: dict[str, Any], html: str | None, svg: str | None, mkdir: bool) -> None:
    from tigris.io.output import write_output

    if html:
        from tigris.fleet.report import render_plan

        write_output(html, render_plan(data), option="--html", mkdir=mkdir)
    if svg:
        from tigris.fleet.report import mix_svg

        write_output(svg, mix_svg(data), option="--svg", mkdir=mkdir)


def print_plan(data: dict[str, Any]) -> None:
    """Systems, services and runs as tables, then the totals."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    systems = Table(title="Fleet")
    for column in ("system", "chips", "serving", "training", "racks", "peak MW", "capex $M"):
        systems.add_column(column)
    for s in data["systems"]:
        racks = "-" if s["racks"] is None else f"{s['racks']:,}"
        systems.add_row(s["system"], f"{s['chips']:,}", f"{s['serving_chips']:,}",
                        f"{s['training_chips']:,}", racks, f"{s['peak_wall_mw']:.2f}",
                        f"{s['capex_usd'] / 1e6:,.1f}")  # fmt: skip
    console.print(systems)
    services = Table(title="Services")
    for column in ("service", "peak req/s", "deployment", "$/M out tokens", "SLO met at peak"):
        services.add_column(column)
    for s in data["services"]:
        where = ", ".join(f"{d['replicas']} x tp{d['tp']} {d['system']}" for d in s["deployment"])
        cost = s["usd_per_million_output_tokens"]
        services.add_row(s["service"], f"{s['peak_rate_per_s']:,.1f}", where,
                         "-" if cost is None else f"{cost:.3f}", str(s["slo_met_at_peak"]))  # fmt: skip
    console.print(services)
    for r in data["runs"]:
        console.print(f"run {r['run']}: {r['chips']:,} x {r['system']}, {r['days']:.1f} of "
                      f"{r['deadline_days']:g} days")  # fmt: skip
    total = data["total"]
    console.print(f"TCO ${total['tco_usd_per_year'] / 1e6:,.2f} M a year (capex "
                  f"${total['capex_usd_per_year'] / 1e6:,.2f} M, energy "
                  f"${total['opex_energy_usd_per_year'] / 1e6:,.2f} M); "
                  f"{total['peak_wall_mw']:.2f} of {total['power_budget_mw']:g} MW at the wall")  # fmt: skip
    what_if = data.get("what_if")
    if what_if:
        from tigris.fleet.report import what_if_text

        console.print("what if: " + what_if_text(what_if), markup=False)


def register(app: typer.Typer) -> None:
    """Add `tigris plan`."""
    app.command("plan")(plan_command)
