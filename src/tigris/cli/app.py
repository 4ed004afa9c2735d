"""The `tigris` command: thin wrappers over public functions.

User mistakes (SpecError, UnsupportedError) print one or two lines and exit 2; a valid
design that cannot run the workload (InfeasibleError) exits 3. No tracebacks for either.
"""

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tigris.errors import InfeasibleError, SpecError, TigrisError, UnsupportedError, shorten

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as _click_exceptions


class _TigrisGroup(TyperGroup):
    """The top-level group: a mistyped option or command is one line on stderr (exit 2),
    as any other user mistake, rather than a usage box; Ctrl-C anywhere in a command that
    does not handle it itself is the line 'interrupted' and exit 130."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _click_exceptions.ClickException as error:
            _exit_on_usage_error(error)

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _exit_interrupted()
        except _click_exceptions.ClickException as error:
            _exit_on_usage_error(error)


def _exit_on_usage_error(error: Exception) -> None:
    """Print a click usage error in one or two lines and exit with its code; help asked
    for by giving no arguments (NoArgsIsHelpError) is left to typer, which prints it."""
    if type(error).__name__ == "NoArgsIsHelpError":
        raise error
    ctx = getattr(error, "ctx", None)
    hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    _print_error("error", SpecError(" ".join(message.split()), hint=hint))
    raise SystemExit(getattr(error, "exit_code", 2))


def _exit_interrupted() -> None:
    _print_line("interrupted")
    raise SystemExit(130)


app = typer.Typer(
    cls=_TigrisGroup,
    name="tigris",
    help="Design AI chips for LLMs and weigh them against H100/H200, TPU and Maia.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
validate_app = typer.Typer(
    help="Predicted vs measured on published hardware data.", no_args_is_help=True
)
app.add_typer(validate_app, name="validate")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of tables.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a chip field: key.path=value (repeatable), e.g. matrix.clock='2 GHz'.",
    ),
]


def _console() -> "Console":
    from rich.console import Console  # here, not at start-up: --json never draws

    return Console()


def _table(*args: Any, **kwargs: Any) -> "Table":
    from rich.table import Table  # here, not at start-up: --json never draws

    return Table(*args, **kwargs)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")


# ---------------------------------------------------------------------------- chips, models


@app.command()
def chips(as_json: JsonOption = False) -> None:
    """List the chip presets."""
    from tigris.hardware.presets import list_chip_ids, load_chip

    loaded = [load_chip(chip_id) for chip_id in list_chip_ids()]
    if as_json:
        _print_json(
            [
                {
                    "id": chip.id,
                    "name": chip.name,
                    "vendor": chip.vendor,
                    "kind": chip.kind,
                    "year": chip.year,
                    "default_system": chip.default_system,
                    "peak_bf16_flop_per_s": chip.matrix.peak_flop_per_s("bf16"),
                    "dram_capacity_bytes": chip.dram_capacity_bytes,
                    "dram_bandwidth_bytes_per_s": chip.dram_bandwidth_bytes_per_s,
                    "reference_design": chip.reference_design,
                }
                for chip in loaded
            ]
        )
        return
    from tigris.units import format_quantity

    table = _table(title="Chip presets")
    for column in ("id", "name", "kind", "year", "peak bf16", "DRAM", "DRAM bandwidth", "system"):
        table.add_column(column, no_wrap=column == "id")
    for chip in loaded:
        peak = chip.matrix.peak_flop_per_s("bf16")
        table.add_row(
            chip.id,
            chip.name,
            chip.kind,
            str(chip.year or ""),
            format_quantity(peak, "flop_rate") if peak else "-",
            format_quantity(chip.dram_capacity_bytes, "capacity"),
            format_quantity(chip.dram_bandwidth_bytes_per_s, "bandwidth"),
            chip.default_system or "-",
        )
    _console().print(table)


@app.command()
def models(as_json: JsonOption = False) -> None:
    """List the model presets (Hugging Face config.json files shipped with Tigris)."""
    from tigris.workload import list_model_ids, load_model

    loaded = [(model_id, load_model(model_id)) for model_id in list_model_ids()]
    rows = [
        {
            "id": model_id,
            "num_params": spec.num_params,
            "num_active_params": spec.num_active_params,
            "num_layers": spec.num_layers,
            "hidden_size": spec.hidden_size,
            "num_heads": spec.num_heads,
            "num_kv_heads": spec.num_kv_heads,
            "num_experts": spec.num_experts,
            "vocab_size": spec.vocab_size,
        }
        for model_id, spec in loaded
    ]
    if as_json:
        _print_json(rows)
        return
    table = _table(title="Model presets")
    for column in ("id", "params", "active", "layers", "hidden", "heads", "kv heads", "experts"):
        table.add_column(column, no_wrap=column == "id")
    for row in rows:
        table.add_row(
            row["id"],
            f"{row['num_params'] / 1e9:.2f} B",
            f"{row['num_active_params'] / 1e9:.2f} B",
            str(row["num_layers"]),
            str(row["hidden_size"]),
            str(row["num_heads"]),
            str(row["num_kv_heads"]),
            str(row["num_experts"] or "-"),
        )
    _console().print(table)


@app.command()
def show(
    chip: Annotated[str, typer.Argument(help="Chip id (see `tigris chips`) or a chip YAML file.")],
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a chip: peaks per dtype, ridge points, memory, links and its system."""
    from tigris.cli.chip_table import chip_table
    from tigris.hardware.presets import load_chip_with_overrides
    from tigris.report.chip_summary import chip_figures

    spec = load_chip_with_overrides(chip, overrides or [])
    if as_json:
        _print_json(chip_figures(spec))
    else:
        _console().print(chip_table(spec))


# ---------------------------------------------------------------------------- gemm

from tigris.api.operators import MAX_GEMM_SIZE  # noqa: E402 - the gemm command's own limit


@app.command()
def gemm(
    m: Annotated[int, typer.Argument(help="rows of A and C", min=1, max=MAX_GEMM_SIZE)],
    n: Annotated[int, typer.Argument(help="columns of B and C", min=1, max=MAX_GEMM_SIZE)],
    k: Annotated[int, typer.Argument(help="columns of A, rows of B", min=1, max=MAX_GEMM_SIZE)],
    chip: Annotated[str, typer.Option("--chip", help="Chip id or YAML file.")] = "h100-sxm",
    dtype: Annotated[str, typer.Option("--dtype", help="bf16 | fp16 | fp8 | int8")] = "bf16",
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=MAX_GEMM_SIZE, help="independent GEMMs")
    ] = 1,
    engine: Annotated[
        str,
        typer.Option("--engine", help="tile | roofline | systolic (cycle-level, systolic chips)"),
    ] = "tile",
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Time one GEMM C[M,N] = A[M,K] x B[K,N] on a chip."""
    from tigris.api.operators import gemm as time_gemm

    result = time_gemm(
        m, n, k, chip=chip, dtype=dtype, batch=batch, engine=engine, overrides=overrides
    )
    if as_json:
        _print_json(result.to_dict())
        return
    _console().print(_gemm_table(result))


def _gemm_table(result: Any) -> "Table":
    """`tigris gemm`'s table: time, achieved rate, bound, flop, traffic, engine details."""
    from tigris.units import format_quantity

    timing = result.timing
    table = _table(
        title=f"GEMM {result.m} x {result.n} x {result.k} ({result.dtype}) on "
        f"{result.chip.name}, {result.engine} engine",
        show_header=False,
        title_justify="left",
    )
    table.add_row("time", format_quantity(timing.time_s, "time"))
    table.add_row(
        "achieved",
        f"{format_quantity(timing.achieved_flop_per_s, 'flop_rate')} "
        f"({100 * result.utilization:.1f}% of peak)",
    )
    table.add_row("bound by", timing.bound)
    table.add_row("flop", f"{timing.flop:.4g}")
    table.add_row("DRAM traffic", format_quantity(timing.dram_bytes, "capacity"))
    parts = (timing.compute_s, timing.memory_s, timing.overhead_s)
    table.add_row(
        "compute / memory / overhead", " / ".join(format_quantity(t, "time") for t in parts)
    )
    for key, value in timing.details.items():
        table.add_row(key, f"{value:g}")
    return table


# ---------------------------------------------------------------------------- validate


@validate_app.command("gemm")
def validate_gemm(
    engine: Annotated[str, typer.Option("--engine", help="tile | roofline")] = "tile",
    rows: Annotated[bool, typer.Option("--rows", help="Also print every row.")] = False,
    holdout: Annotated[
        str, typer.Option("--holdout", help="source | chip: what each re-fit leaves out")
    ] = "source",
    data: Annotated[
        str | None,
        typer.Option("--data", help="Score this CSV (measured.csv's schema) instead."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Predicted vs measured for the gemm and memory_bw rows: in-sample and held-out."""
    from pathlib import Path

    from tigris.cli.holdout_table import print_groups, print_unmapped
    from tigris.cli.progress import Progress
    from tigris.engines.base import get_engine
    from tigris.validate.gemm import validate_gemm as run_validation
    from tigris.validate.protocol import check_holdout, summarize_by_category
    from tigris.validate.single_chip import summarize

    get_engine(engine)  # SpecError for an unknown engine, before any row is skipped for it
    check_holdout(holdout)
    with Progress("validate gemm: rows", quiet=quiet) as bar:
        found = run_validation(
            Path(data) if data else None, holdout, engine_name=engine, progress=bar.update
        )
    summary = summarize(found.in_sample)
    groups = summarize_by_category(found.scored)
    scored = {s.case.id: s for s in found.scored}
    if as_json:
        _print_json(
            {
                "engine": engine,
                "holdout": holdout,
                "summary": [s.__dict__ for s in summary],
                "groups": groups,
                "rows": [_gemm_row(r, scored.get(r.case.row_id)) for r in found.in_sample],
                "unmapped": [u.to_dict() for u in found.unmapped],
            }
        )
        return
    _print_gemm_tables(engine, found.in_sample, summary, rows=rows)
    print_groups(groups, "gemm and memory_bw", holdout)
    print_unmapped(found.unmapped)


def _gemm_row(r: Any, scored: Any) -> dict[str, Any]:
    """One validate-gemm row as --json prints it (the protocol's keys added)."""
    return {
        "id": r.case.row_id,
        "category": r.case.category,
        "hardware": r.case.hardware,
        "chip": r.case.chip_id,
        "metric": r.case.metric,
        "measured": r.case.measured,
        "predicted": r.predicted,
        "error_pct": r.error_pct,
        "skipped": r.skipped,
        "source": r.case.source,
        "source_group": scored.case.source if scored else None,
        "fitted": scored.case.fitted if scored else False,
        "predicted_held_out": scored.predicted_held_out if scored else None,
        "error_pct_held_out": scored.error_pct(held_out=True) if scored else None,
        "interval": scored.interval if scored else None,
    }


def _print_gemm_tables(engine: str, results: list, summary: list, *, rows: bool) -> None:
    """The summary table (and with `rows`, every scored row first); skipped rows counted."""
    console = _console()
    if rows:
        detail = _table(title="Rows")
        for column in ("id", "chip", "metric", "measured", "predicted", "error %"):
            detail.add_column(column)
        for r in results:
            if r.error_pct is not None:
                detail.add_row(
                    r.case.row_id,
                    r.case.chip_id or "",
                    r.case.metric,
                    f"{r.case.measured:.4g}",
                    f"{r.predicted:.4g}",
                    f"{r.error_pct:+.1f}",
                )
        console.print(detail)
    table = _table(title=f"Predicted ({engine} engine) vs measured: absolute % error")
    for column in ("category", "chip", "rows", "mean |error| %", "max |error| %"):
        table.add_column(column, no_wrap=column == "id")
    for s in summary:
        style = "bold" if s.chip_id == "all" else None
        table.add_row(
            s.category,
            s.chip_id,
            str(s.num_rows),
            f"{s.mean_abs_error_pct:.1f}",
            f"{s.max_abs_error_pct:.1f}",
            style=style,
        )
    console.print(table)
    skipped = [r for r in results if r.skipped]
    if skipped:
        reasons = sorted({r.skipped for r in skipped if r.skipped})
        console.print(f"{len(skipped)} rows skipped: " + "; ".join(reasons))


# ---------------------------------------------------------------------------- entry point


def _register_systolic() -> None:
    from tigris.cli.systolic import register

    register(app)


def _register_executor() -> None:
    from tigris.cli.toolchain import register

    register(app)


def _register_parallel() -> None:
    from tigris.cli.train import register

    register(app, validate_app)


def _register_kernels() -> None:
    from tigris.cli.kernels import register

    register(app, validate_app)


def _register_calibrate() -> None:
    from tigris.cli.calibrate import register

    register(app)


def _register_serving() -> None:
    from tigris.cli.serve import register

    register(app, validate_app)


def _register_power() -> None:
    from tigris.cli.validate_power import register

    register(app, validate_app)


def _register_compare() -> None:
    from tigris.cli.compare import register

    register(app)


def _register_explore() -> None:
    from tigris.cli.explore import register

    register(app)


def _register_plan() -> None:
    from tigris.cli.plan import register

    register(app)


# Commands that live beside their engines, in the order `tigris --help` lists them.
_PLUGINS = (
    _register_systolic,
    _register_executor,
    _register_parallel,
    _register_kernels,
    _register_calibrate,
    _register_serving,
    _register_compare,
    _register_explore,
    _register_plan,
    _register_power,
)
# The plugins a command needs. A command named here (or defined above) loads only these:
# importing every plugin costs seconds (ml_dtypes, the compiler, duckdb), which a user
# pays on every `tigris show`. Anything else (--help, a typo, a command added to a
# plugin later) loads them all.
_CORE_COMMANDS = ("chips", "models", "show", "gemm")
_PLUGINS_OF = {
    "systolic": (_register_systolic,),
    "compile": (_register_executor,),
    "run": (_register_executor,),
    "asm": (_register_executor,),
    "disasm": (_register_executor,),
    "train": (_register_parallel,),
    "infer": (_register_parallel,),
    "serve": (_register_serving,),
    "compare": (_register_compare,),
    "explore": (_register_explore,),
    "plan": (_register_plan,),
    "attention": (_register_kernels,),
    "collective": (_register_kernels,),
    "stream": (_register_kernels,),
    "calibrate": (_register_calibrate,),
    "validate": (_register_parallel, _register_kernels, _register_power),
}


def _register_plugins(args: list[str] | None = None) -> None:
    """Add the plugin commands: those `args` (the command line after `tigris`) needs, or
    all of them."""
    first = args[0] if args else None
    if first in _CORE_COMMANDS:
        needed: tuple = ()
    elif first in _PLUGINS_OF:
        needed = _PLUGINS_OF[first]
    else:
        needed = _PLUGINS
    for register in needed:
        register()


def _print_line(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: nothing more to say
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


# An error message longer than this is cut: a value a user gave (a file's contents, an
# expanded YAML structure) must never flood the terminal.
MAX_MESSAGE_CHARS = 1000


def _print_error(label: str, error: Exception) -> None:
    from rich.console import Console
    from rich.markup import escape

    text = shorten(str(error), MAX_MESSAGE_CHARS)
    with contextlib.suppress(OSError, ValueError):  # stderr closed: nothing more to say
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]{label}:[/] {escape(text)}"
        )


def main() -> None:
    """Console entry point: run the app, turning Tigris errors into short messages.

    User mistakes exit 2, an infeasible design 3, Ctrl-C 130 (with the line 'interrupted';
    a command may catch KeyboardInterrupt itself first and say more)."""
    from tigris.cli.lazy_rich import defer

    defer()  # typer's help renderer imports two rich modules Tigris never uses
    try:
        _register_plugins(sys.argv[1:])
        app()
    except KeyboardInterrupt:  # while starting, before a command runs
        _exit_interrupted()
    except (SpecError, UnsupportedError) as error:
        _print_error("error", error)
        raise SystemExit(2) from None
    except InfeasibleError as error:
        _print_error("infeasible", error)
        raise SystemExit(3) from None
    except TigrisError as error:
        _print_error("error", error)
        raise SystemExit(1) from None
    except OSError as error:
        # A file the user named that cannot be read or written (permission denied, a
        # directory, a full disk): a user's problem, said in one line. Other OS errors
        # (no file named) are bugs and keep their traceback.
        if error.filename is None:
            raise
        where = str(error.filename)
        _print_error("error", SpecError(error.strerror or str(error), file=where))
        raise SystemExit(2) from None
