"""`tigris explore run SWEEP.yaml` and `tigris explore show DB`. The lead's cli.py calls
register(app) to add them."""

import json
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from tigris.errors import SpecError, shorten
from tigris.explore.defaults import DEFAULT_MAX_DESIGNS, RAY_TIMEOUT_S

if TYPE_CHECKING:
    from tigris.explore.evaluate import Evaluation
    from tigris.explore.sweep import Objective

LOCAL_RAY = "local"
# More local processes than this only add start-up and memory (each holds a model and a
# chip cache): 1,000 workers took 16 s to evaluate two designs. Ray takes the large runs.
MAX_WORKERS = 256


class _OptionalRayValue(TyperCommand):
    """`--ray` alone starts a local Ray instance; `--ray ADDRESS` joins a cluster (click
    has no optional option values through typer, so a bare --ray is rewritten here)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = list(args)
        for index, arg in enumerate(args):
            if arg == "--ray" and (index + 1 == len(args) or args[index + 1].startswith("-")):
                args[index] = f"--ray={LOCAL_RAY}"
        return super().parse_args(ctx, args)


explore_app = typer.Typer(
    help="Design-space exploration: sweep chip designs, keep every result, find the front.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _objectives(stored: list[dict[str, Any]]) -> "list[Objective]":
    from tigris.explore.sweep import Objective

    return [Objective(o["name"], o["metric"], o["goal"], o.get("workload")) for o in stored]


def _row_dict(row: "Evaluation") -> dict[str, Any]:
    return {
        "design_id": row.design_id,
        "status": row.status,
        "reason": row.reason,
        "params": row.params,
        "derived": row.derived,
        "objectives": row.objectives,
        "metrics": row.metrics,
    }


def _print_front(front: "list[Evaluation]", objectives: "list[Objective]", axes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from tigris.explore.report import format_value

    table = Table(title=f"Pareto front ({len(front)} designs)")
    table.add_column("design", no_wrap=True)
    for objective in objectives:
        table.add_column(f"{objective.name} ({objective.goal})", justify="right")
    table.add_column("parameters")
    for row in front[:40]:
        params = " ".join(
            f"{path.split('.')[-1]}={format_value(row.params.get(path))}" for path in axes
        )
        values = [format_value(row.objectives.get(o.name)) for o in objectives]
        table.add_row(row.design_id[:8], *values, params)
    Console().print(table)
    if len(front) > 40:
        Console().print(f"... and {len(front) - 40} more (see the HTML page)")


def _write_page(
    db: Path, name: str, rows: "list[Evaluation]", front, objectives, axes, summary
) -> Path:
    from tigris.explore.report import pareto_page
    from tigris.io.output import write_output

    page = pareto_page(name, rows, front, objectives, axes, summary)
    return write_output(_page_path(db), page, option="--db (its Pareto page)")


class Terminated(KeyboardInterrupt):
    """SIGTERM during `explore run`: unwinds like Ctrl-C (rows committed, workers
    stopped) and exits 143."""


@contextmanager
def _sigterm_stops_the_run() -> Iterator[None]:
    """While the run lasts, SIGTERM raises Terminated in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stored_before(db: Path, sweep_hash: str) -> int:
    """Designs of this sweep already in `db` (0 for a new file)."""
    import duckdb

    from tigris.explore.store import Store

    if not db.exists():
        return 0
    with Store(db, read_only=True, checked=False) as store:
        try:
            return store.count(sweep_hash)
        except duckdb.CatalogException:  # a DuckDB file without our tables
            return 0


def _resume_command(sweep_file: Path, db: Path, options: dict[str, Any]) -> str:
    """The command that continues this run (the same options, --db spelt out)."""
    import shlex

    words = ["tigris", "explore", "run", str(sweep_file), "--db", str(db)]
    for option, value in options.items():
        if value is True:
            words.append(option)
        elif value not in (None, False):
            words.append(f"{option}={value}" if option == "--ray" else option)
            if option != "--ray":
                words.append(str(value))
    return shlex.join(words)


class _EveryDesignInvalid(SpecError):
    """Every design of a run was invalid: a mistake in the sweep file (exit 2)."""


def _remove_results(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)


@explore_app.command("run", cls=_OptionalRayValue)
def run_command(
    sweep_file: Annotated[Path, typer.Argument(help="the sweep YAML")],
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB results file (default: SWEEP.duckdb)")
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            min=1,
            help="designs in the file when done (grid: all, or the first N in order)",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=MAX_WORKERS, help=f"local processes (at most {MAX_WORKERS})"
        ),
    ] = 1,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="run on Ray: alone for a local instance, or ADDRESS"),
    ] = None,
    ray_timeout: Annotated[
        float,
        typer.Option("--ray-timeout", min=0.1, help="seconds to wait for --ray ADDRESS"),
    ] = RAY_TIMEOUT_S,
    max_designs: Annotated[
        int,
        typer.Option(
            "--max-designs",
            min=1,
            help=f"refuse a run of more designs than this (default {DEFAULT_MAX_DESIGNS:,})",
        ),
    ] = DEFAULT_MAX_DESIGNS,
    mkdir: Annotated[
        bool, typer.Option("--mkdir", help="create missing parent folders of --db")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Evaluate a sweep into a DuckDB file (resumes where an earlier run stopped)."""
    from tigris.explore.run import run_sweep

    db = db or sweep_file.with_suffix(".duckdb")
    sweep = _checked_run(sweep_file, db, samples, workers, ray, ray_timeout, max_designs, mkdir)
    options = _given_options(samples, workers, ray, ray_timeout, max_designs, quiet, as_json)
    run = partial(
        run_sweep,
        sweep,
        samples=samples,
        workers=workers,
        use_ray=ray is not None,
        ray_address=_ray_address(ray),
        ray_timeout_s=ray_timeout,
    )
    _run_into(db, run, sweep, sweep_file, options)


def _given_options(
    samples: int | None,
    workers: int,
    ray: str | None,
    ray_timeout: float,
    max_designs: int,
    quiet: bool,
    as_json: bool,
) -> dict[str, Any]:
    """The options as the resume command repeats them (None: the default, left out)."""
    return {
        "--samples": samples,
        "--workers": workers if workers != 1 else None,
        "--ray": ray,
        "--ray-timeout": ray_timeout if ray_timeout != RAY_TIMEOUT_S else None,
        "--max-designs": max_designs if max_designs != DEFAULT_MAX_DESIGNS else None,
        "--quiet": quiet,
        "--json": as_json,
    }


def _ray_address(ray: str | None) -> str | None:
    """The cluster `--ray ADDRESS` names; None for no Ray or a local instance."""
    return None if ray in (None, LOCAL_RAY) else ray


def _checked_run(
    sweep_file: Path,
    db: Path,
    samples: int | None,
    workers: int,
    ray: str | None,
    ray_timeout: float,
    max_designs: int,
    mkdir: bool,
):
    """The sweep, once every option is checked and before anything is written (the
    parent folder of --db created with --mkdir)."""
    from tigris.explore.run import check_run_size, target_samples
    from tigris.explore.runners import check_ray_address
    from tigris.explore.sweep import load_sweep
    from tigris.io.output import check_output_path

    check_output_path(db, option="--db", mkdir=mkdir)
    check_output_path(_page_path(db), option="--db (its Pareto page)", mkdir=mkdir)
    sweep = load_sweep(sweep_file)
    if any(workload.task == "fleet" for workload in sweep.workloads):
        from tigris.fleet.design_sweep import attach_fleet  # fleet sits above explore

        sweep = attach_fleet(sweep)
    address = _ray_address(ray)
    if address is not None:
        check_ray_address(address, ray_timeout)  # before the results file is created
    stored = _stored_before(db, sweep.sweep_hash)
    check_run_size(sweep, target_samples(sweep, samples) - stored, max_designs, workers)
    if mkdir:
        db.parent.mkdir(parents=True, exist_ok=True)
    return sweep


def _run_into(db: Path, run, sweep, sweep_file: Path, options: dict[str, Any]) -> None:
    """`run`(store, on_progress=) into `db`, then its report; Ctrl-C or SIGTERM say how to
    resume; a run that failed with nothing to keep leaves no file."""
    from tigris.explore.store import Store

    created = not db.exists()
    try:
        with _sigterm_stops_the_run(), Store(db) as store:
            if options["--json"]:
                progress = run(store, on_progress=None if options["--quiet"] else _log_commits())
            else:
                progress = _run_with_progress(partial(run, store), sweep, options["--quiet"])
            _report(sweep, store, db, progress, options["--json"])
    except KeyboardInterrupt as stop:
        _say_interrupted(sweep, db, created, _resume_command(sweep_file, db, options))
        raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None
    except SpecError as error:
        every_design_invalid = isinstance(error, _EveryDesignInvalid)
        if created and (every_design_invalid or _stored_before(db, sweep.sweep_hash) == 0):
            # a run that failed before any design, or whose every design was a mistake of
            # the sweep file, leaves no file: there is nothing in it to keep
            _remove_results(db)
            _page_path(db).unlink(missing_ok=True)
        if every_design_invalid:
            raise error.with_file(str(sweep_file)) from None
        raise


def _page_path(db: Path) -> Path:
    return db.with_suffix(".pareto.html")


def _say_interrupted(sweep, db: Path, created: bool, resume: str) -> None:
    count = _stored_before(db, sweep.sweep_hash)
    if count == 0 and created:
        _remove_results(db)
        sys.stderr.write("interrupted before any design was stored; nothing was written\n")
        return
    sys.stderr.write(
        f"interrupted: {count:,} designs of sweep {sweep.name} stored in {db}\n"
        f"resume with: {resume}\n"
    )
    sys.stderr.flush()


def _report(sweep, store, db: Path, progress, as_json: bool) -> None:
    """The summary and front of a finished run (stdout), and its Pareto page."""
    from tigris.explore.pareto import pareto_front

    base_row = _base_row(sweep, store)
    rows = store.evaluations(sweep.sweep_hash)
    if rows and all(row.status == "invalid" for row in rows):
        raise _none_feasible(rows, db)  # a mistake of the file: no summary, no page
    front = pareto_front(rows, sweep.objectives)
    axes = [axis.path for axis in sweep.axes]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = (
        f"sweep {sweep.name} ({sweep.sweep_hash}) on {sweep.base_id}: {len(rows)} designs "
        f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); this run "
        f"{progress.new} at {progress.evals_per_s:.0f} designs/s"
    )
    page = _write_page(db, sweep.name, rows, front, list(sweep.objectives), axes, summary)
    if base_row is not None:
        summary += "; base " + _compare(base_row, front, list(sweep.objectives))
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "base_design": _row_dict(base_row) if base_row else None,
                    "sweep": sweep.name,
                    "base": sweep.base_id,
                    "sweep_hash": sweep.sweep_hash,
                    "db": str(db),
                    "html": str(page),
                    "designs": len(rows),
                    "statuses": counts,
                    "new": progress.new,
                    "evals_per_s": progress.evals_per_s,
                    "workloads": len(sweep.workloads),
                    "pareto_front": [_row_dict(row) for row in front],
                },
                indent=2,
                default=repr,
            )
            + "\n"
        )
        sys.stdout.flush()
    else:
        from rich.console import Console

        Console().print(summary)
        if front:
            _print_front(front, list(sweep.objectives), axes)
        Console().print(f"results: {db}   Pareto page: {page}")
    if rows and not any(row.feasible for row in rows):
        raise _none_feasible(rows, db)


def _none_feasible(rows: "list[Evaluation]", db: Path) -> Exception:
    """Why the designs failed, most common reason first: a SpecError (exit 2) when every
    design is invalid (a derived value that divides by zero, a field the chip has not: the
    sweep file is wrong, whatever the design), else an InfeasibleError (exit 3)."""
    from tigris.errors import InfeasibleError

    if all(row.status == "invalid" for row in rows):
        reason, count = _most_common_reason(rows)
        return _EveryDesignInvalid(
            f"every design is invalid ({count:,} of {len(rows):,}: {shorten(reason)})",
            hint="the sweep file's axes or derived values are wrong for every design",
        )
    reason, count = _most_common_reason(rows)
    return InfeasibleError(
        f"none of the {len(rows):,} designs is feasible; most often ({count:,}): "
        f"{shorten(reason)}; the rows are in {db}"
    )


def _most_common_reason(rows: "list[Evaluation]") -> tuple[str, int]:
    reasons: dict[str, int] = {}
    for row in rows:
        key = re.sub(r" = \S+", "", row.reason or row.status)  # the bound, not the value
        reasons[key] = reasons.get(key, 0) + 1
    return max(reasons.items(), key=lambda item: item[1])


def _base_row(sweep, store) -> "Evaluation | None":
    """The base chip's own design (evaluated and stored if the sampler skipped it)."""
    from tigris.explore.evaluate import Evaluator, design_id

    params = sweep.base_params()
    if params is None:
        return None
    ident = design_id(params)
    found = [row for row in store.evaluations(sweep.sweep_hash) if row.design_id == ident]
    if found:
        return found[0]
    row = Evaluator(sweep).evaluate(params)
    store.add(sweep.sweep_hash, [row], store.next_seq(sweep.sweep_hash))
    return row


def _compare(base: "Evaluation", front: "list[Evaluation]", objectives: "list[Objective]") -> str:
    """'tigris-1 design abc: tokens_per_s 4.9e5 (best 5.1e5), ...'."""
    if not base.feasible:
        return f"design {base.design_id[:8]} is {base.status}: {base.reason}"
    parts = []
    for objective in objectives:
        values = [row.objectives[objective.name] for row in front]
        best = (min if objective.goal == "min" else max)(values) if values else None
        text = f"{objective.name} {base.objectives[objective.name]:.4g}"
        if best is not None:
            text += f" (best on the front {best:.4g})"
        parts.append(text)
    return f"design {base.design_id[:8]}: " + ", ".join(parts)


def _log_commits(every_s: float = 1.0):
    """With --json, stdout holds one JSON document; progress goes to stderr as plain
    lines, one after the first commit and then at most one a second, each printed only
    once its rows are in the store (so a script may stop the run and lose none of them)."""
    import time

    last = {"stored": 0, "at": float("-inf")}

    def log(progress) -> None:
        if progress.stored == last["stored"]:
            return
        now = time.perf_counter()
        first = last["stored"] == 0
        finished = progress.stored == progress.new and progress.done >= progress.target
        if not (first or finished or now - last["at"] >= every_s):
            return
        last["stored"], last["at"] = progress.stored, now
        sys.stderr.write(
            f"stored {progress.done - progress.new + progress.stored}/{progress.target} "
            f"designs, {progress.feasible} feasible, {progress.evals_per_s:.0f} designs/s\n"
        )
        sys.stderr.flush()

    return log


def _run_with_progress(run, sweep, quiet: bool):
    """Progress on stderr (tigris.cli.progress: a bar on a terminal, a line every few
    seconds otherwise, nothing with --quiet)."""
    from tigris.cli.progress import Progress

    with Progress(f"sweep {sweep.name}: designs", quiet=quiet) as bar:
        return run(on_progress=lambda progress: bar.update(progress.done, progress.target))


@explore_app.command("show")
def show_command(
    db: Annotated[Path, typer.Argument(help="a DuckDB results file")],
    sweep_hash: Annotated[
        str | None, typer.Option("--sweep", help="sweep hash (prefix); default: the latest")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="front designs listed")] = 40,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write the interactive Pareto page here")
    ] = None,
    mkdir: Annotated[
        bool, typer.Option("--mkdir", help="create missing parent folders of --html")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Summarise a sweep in a results file: statuses, best designs, the Pareto front."""
    from tigris.explore.pareto import pareto_front
    from tigris.explore.store import Store
    from tigris.io.output import check_output_path

    if html is not None:
        check_output_path(html, option="--html", mkdir=mkdir)
    with Store(db, read_only=True) as store:
        stored = store.sweep(sweep_hash)
        rows = store.evaluations(stored.sweep_hash)
        counts = store.status_counts(stored.sweep_hash)
    objectives = _objectives(stored.objectives)
    front = pareto_front(rows, objectives)
    if html is not None:
        _write_show_page(html, stored, rows, front, objectives, mkdir)
    reasons = _reason_counts(rows)
    if as_json:
        _print_show_json(stored, rows, counts, reasons, front[:top])
        return
    from rich.console import Console

    console = Console()
    console.print(
        f"sweep {stored.name} ({stored.sweep_hash}), tigris {stored.tigris_version}: "
        f"{len(rows)} designs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1])[:8]:
        console.print(f"  {count:>7} {reason}")
    _print_front(front[:top], objectives, stored.axes)


def _write_show_page(html: Path, stored, rows, front, objectives, mkdir: bool) -> None:
    from tigris.explore.report import pareto_page
    from tigris.io.output import write_output

    summary = f"sweep {stored.name} ({stored.sweep_hash}): {len(rows)} designs"
    page = pareto_page(stored.name, rows, front, objectives, stored.axes, summary)
    write_output(html, page, option="--html", mkdir=mkdir)


def _reason_counts(rows: "list[Evaluation]") -> dict[str, int]:
    """How many rows give each reason (its bound, not the design's value)."""
    reasons: dict[str, int] = {}
    for row in rows:
        if row.reason:
            key = row.reason.split(" = ")[0] if " = " in row.reason else row.reason
            reasons[key] = reasons.get(key, 0) + 1
    return reasons


def _print_show_json(stored, rows, counts, reasons, front) -> None:
    sys.stdout.write(
        json.dumps(
            {
                "sweep": stored.name,
                "sweep_hash": stored.sweep_hash,
                "tigris_version": stored.tigris_version,
                "designs": len(rows),
                "statuses": counts,
                "reasons": reasons,
                "objectives": stored.objectives,
                "pareto_front": [_row_dict(row) for row in front],
            },
            indent=2,
            default=repr,
        )
        + "\n"
    )


def register(app: typer.Typer) -> None:
    """Add `tigris explore` to the main app."""
    app.add_typer(explore_app, name="explore")


def main() -> None:
    """`python -m tigris.cli.explore ...`: the explore commands alone, with the main CLI's
    handling of user mistakes (one or two lines, exit 2) and of a run whose every design
    fails (exit 3)."""
    from rich.console import Console
    from rich.markup import escape

    from tigris.errors import InfeasibleError, SpecError, TigrisError, UnsupportedError

    try:
        explore_app()
    except (SpecError, UnsupportedError) as error:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(error))}"
        )
        raise SystemExit(2) from None
    except InfeasibleError as error:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]infeasible:[/] {escape(str(error))}"
        )
        raise SystemExit(3) from None
    except TigrisError as error:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(error))}"
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
