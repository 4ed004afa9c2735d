"""Score the power model on measured rows: in-sample and held out, per source and chip.

In-sample: one fit on every mapped row, each row scored with it. Held out: for each
group (a source, or a chip), a fit on the rows outside the group, the group's rows scored
with it; `fitted_on` of that fit is checked to hold none of them. J/token in the row's
scope: predicted power x chips / predicted tokens per second (the model's own time,
stretched by the cap), against the row's measured J/token; the model's tokens/s against
the row's measured tokens/s.

Each serve row runs under its source's stack (tigris.validate.stack_fit_power). A stack
constant fitted on rows of a source is at its prior when that source is held out (and
for every row under `--holdout chip`), as `validate infer` does; `stack_fit_row` marks
the rows a constant was fitted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import mean

from tigris.cost.power_fit import PowerSample, fit_coefficients
from tigris.cost.power_scope import PowerCoefficients, power_from_rates
from tigris.errors import TigrisError
from tigris.validate.measured import with_progress
from tigris.validate.power import PowerRow
from tigris.validate.power_predict import RowModel, model_row, sample_of

HOLDOUTS = ("source", "chip")


@dataclass(frozen=True)
class Prediction:
    power_w: float  # whole row (num_chips), in the row's scope
    j_per_token: float
    tokens_per_s: float


@dataclass(frozen=True)
class Mapped:
    row: PowerRow
    model: RowModel
    sample: PowerSample
    held: RowModel  # the model with the stack's fits on the row's held-out group at priors
    stack: str


def run_models(
    rows: list[PowerRow],
    progress: Callable[[int, int], None] | None = None,
    holdout: str = "source",
):
    """(mapped rows with their model runs, {row id: reason} of the rest)."""
    mapped: list[Mapped] = []
    reasons: dict[str, str] = {}
    for row in with_progress(rows, progress):
        if row.setup is None:
            reasons[row.row_id] = row.reason
            continue
        try:
            item = _run(row, holdout)
        except TigrisError as error:
            reasons[row.row_id] = f"the model cannot run the setup: {str(error).splitlines()[0]}"
            continue
        mapped.append(item)
    return mapped, reasons


def _run(row: PowerRow, holdout: str) -> Mapped:
    """The row's model under its stack, and under its stack held out."""
    from tigris.hardware.stacks import ANY_SOURCE
    from tigris.validate.stack_fit_power import row_power_profile

    assert row.setup is not None
    profile = row_power_profile(row)
    model = model_row(row.setup, row.row_id, profile)
    held_profile = profile.without_fits_from(row.source if holdout == "source" else ANY_SOURCE)
    held = model if held_profile == profile else model_row(row.setup, row.row_id, held_profile)
    return Mapped(row, model, sample_of(row, model), held, profile.id)


def predict(item: Mapped, coefficients: PowerCoefficients, held: bool = False) -> Prediction:
    """Power, J/token and tokens/s of a row in its scope, from coefficients and the
    model's rates (`held`: the model with the row's stack fits held out)."""
    m, setup = (item.held if held else item.model), item.row.setup
    assert setup is not None
    power = power_from_rates(
        m.chip_id, m.tdp_w, m.rates, m.time_s, coefficients, limit_w=m.limit_w, pue=1.0
    )
    per_chip = power.power_w(setup.scope)
    tokens_per_s = m.tokens / power.capped_time_s
    total = per_chip * item.row.num_chips
    return Prediction(total, total / tokens_per_s, tokens_per_s)


def group_key(row: PowerRow, holdout: str) -> str:
    if holdout == "chip":
        return row.setup.chip_id if row.setup else row.chip_label
    return row.source


def fit_without(mapped: list[Mapped], left_out: set[str]) -> PowerCoefficients | None:
    """A fit on every mapped row not in `left_out` (None when no board row remains). The
    compute term is anchored to each chip's TDP by mechanism (tigris.cost.power_scope),
    not fitted."""
    samples = [m.sample for m in mapped if m.row.row_id not in left_out]
    if not any(s.scope == "board" for s in samples):
        return None
    fit = fit_coefficients(samples, note=f"{len(left_out)} rows held out")
    assert not left_out & set(fit.fitted_on + fit.node_fitted_on)
    return fit


def score(rows: list[PowerRow], holdout: str = "source", progress=None) -> dict[str, object]:
    """The whole validation: per-row predictions in-sample and held out, per-group
    headlines, the unmapped rows with their reasons, the fits."""
    mapped, reasons = run_models(rows, progress, holdout)
    if not any(m.sample.scope == "board" for m in mapped):
        raise TigrisError("no mapped board-power row to fit the power model on")
    full = fit_without(mapped, set())
    assert full is not None
    held: dict[str, PowerCoefficients | None] = {}
    for key in sorted({group_key(m.row, holdout) for m in mapped}):
        out = {m.row.row_id for m in mapped if group_key(m.row, holdout) == key}
        held[key] = fit_without(mapped, out)
    per_row = [_row_result(m, full, held[group_key(m.row, holdout)]) for m in mapped]
    return {
        "holdout": holdout,
        "groups": _groups(rows, per_row, reasons, holdout),
        "rows": per_row,
        "unmapped": [{"id": k, "reason": v} for k, v in reasons.items()],
        "fit_all_rows": full.to_dict(),
        "fits_held_out": {k: (v.to_dict() if v else None) for k, v in held.items()},
    }


def _err(predicted: float, measured: float) -> float:
    return predicted / measured - 1.0


def _row_result(item: Mapped, full: PowerCoefficients, held: PowerCoefficients | None):
    row, setup = item.row, item.row.setup
    assert setup is not None
    ins = predict(item, full)
    result: dict[str, object] = {
        "id": row.row_id,
        "source": row.source,
        "chip": setup.chip_id,
        "model": setup.model_id,
        "scope": setup.scope,
        "batch": item.model.batch,
        "stack": item.stack,
        "stack_fit_row": _is_stack_fit_row(item),
        "power_cap_w": setup.power_cap_w,
        "measured_power_w": row.measured_power_w,
        "measured_j_per_token": row.measured_j_per_token,
        "measured_tokens_per_s": row.measured_tokens_per_s,
        **_scores(item, ins, "in_sample"),
        "assumed": list(setup.assumed),
    }
    if held is not None:
        result |= _scores(item, predict(item, held, held=True), "held_out")
    return result


def _scores(item: Mapped, p: Prediction, kind: str) -> dict[str, float]:
    row = item.row
    return {
        f"power_w_{kind}": p.power_w,
        f"j_per_token_{kind}": p.j_per_token,
        f"tokens_per_s_{kind}": p.tokens_per_s,
        f"power_err_{kind}": _err(p.power_w, row.measured_power_w),
        f"j_per_token_err_{kind}": _err(p.j_per_token, row.measured_j_per_token),
        f"tokens_per_s_err_{kind}": _err(p.tokens_per_s, row.measured_tokens_per_s),
    }


def _is_stack_fit_row(item: Mapped) -> bool:
    from tigris.hardware.stacks import load_stack

    fitted = load_stack(item.stack).fitted.values()
    return any(item.row.row_id in record.get("rows", ()) for record in fitted)


def _mape(results: list[dict], key: str) -> float | None:
    values = [abs(r[key]) for r in results if key in r]
    return mean(values) if values else None


def _groups(rows, per_row, reasons, holdout) -> list[dict[str, object]]:
    """Per (group, chip, scope): rows in the data, rows scored, MAPE in and out of sample."""
    scored: dict[tuple[str, str, str], list[dict]] = {}
    by_id = {r.row_id: r for r in rows}
    for result in per_row:
        key = (group_key(by_id[result["id"]], holdout), result["chip"], result["scope"])
        scored.setdefault(key, []).append(result)
    totals: dict[str, int] = {}
    unmapped: dict[str, int] = {}
    for row in rows:
        totals[row.source] = totals.get(row.source, 0) + 1
        if row.row_id in reasons:
            unmapped[row.source] = unmapped.get(row.source, 0) + 1
    out = []
    for (group, chip, scope), results in sorted(scored.items()):
        out.append(
            {
                "group": group,
                "chip": chip,
                "scope": scope,
                "rows_scored": len(results),
                **{
                    f"{what}_mape_{kind}": _mape(results, f"{what}_err_{kind}")
                    for what in ("power", "j_per_token", "tokens_per_s")
                    for kind in ("in_sample", "held_out")
                },
            }
        )
    for source, total in sorted(totals.items()):
        out.append({"group": source, "rows_total": total, "rows_unmapped": unmapped.get(source, 0)})
    return out


def interval_table(by_source: dict, by_chip: dict) -> dict[str, object]:
    """The bands tigris.cost.power_report puts on power outputs (data/power_interval.json):
    the central INTERVAL_COVERAGE of measured / predicted held out, per scope and for
    J/token; 'measured' from the rows held out by source (a chip with rows in the data),
    'unmeasured' from the rows held out by chip (a chip the fit never saw)."""
    from tigris.validate.protocol import INTERVAL_COVERAGE

    tail = (1.0 - INTERVAL_COVERAGE) / 2.0
    table: dict[str, object] = {"coverage": INTERVAL_COVERAGE}
    for name, result in (("measured", by_source), ("unmeasured", by_chip)):
        bands: dict[str, object] = {}
        for key, scope in (("board", "board"), ("node_wall", "node_wall"), ("j_per_token", None)):
            rows = [r for r in result["rows"] if "power_w_held_out" in r
                    and (scope is None or r["scope"] == scope)]  # fmt: skip
            metric = "j_per_token" if scope is None else "power_w"
            ratios = sorted(r[f"measured_{metric}"] / r[f"{metric}_held_out"] for r in rows)
            if ratios:
                bands[key] = {"low": _quantile(ratios, tail),
                              "high": _quantile(ratios, 1.0 - tail), "rows": len(ratios)}  # fmt: skip
        table[name] = bands
    _widen_unmeasured(table)
    table["measured_chips"] = sorted({r["chip"] for r in by_source["rows"]})
    return table


def _widen_unmeasured(table: dict[str, object]) -> None:
    """An unmeasured chip's band covers a measured chip's too: a chip no row measured is
    trusted no more than one some rows did, whichever held-out split came out wider."""
    measured, unmeasured = table["measured"], table["unmeasured"]
    for key, band in unmeasured.items():  # type: ignore[union-attr]
        other = measured.get(key)  # type: ignore[union-attr]
        if other is not None:
            band["low"] = min(band["low"], other["low"])
            band["high"] = max(band["high"], other["high"])


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted `values` (numpy's default method)."""
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


# Regenerating the shipped files (cost/data/power_fit.json, cost/data/power_interval.json)
# after a change that moves the rows' predictions: `python -m tigris.validate.power_score
# --write-fit-dev PATH --write-intervals PATH` (docs/validation.md, power section).
DEV_FIT_NOTE = (
    "refitted by `python -m tigris.validate.power_score --write-fit-dev` "
    "(power_fit.fit_coefficients) on the development rows recorded in fitted_on / "
    "node_fitted_on only, with the current per-row predictions (each row under its "
    "source's stack), under energy per op ~ clock^2; every other mapped row of power.csv "
    "is held out of this default"
)
FIXED_POINT_PASSES = 6


def refit_development(mapped: list[Mapped], recorded: PowerCoefficients):
    """`recorded`'s development rows (its fitted_on and node_fitted_on ids, kept in their
    order) refitted with the current predictions: (fit, recorded ids no longer mapped)."""
    samples = {m.row.row_id: m.sample for m in mapped}
    ids = recorded.fitted_on + recorded.node_fitted_on
    missing = [i for i in ids if i not in samples]
    fit = fit_coefficients([samples[i] for i in ids if i in samples], note=DEV_FIT_NOTE)
    return fit, missing


def development_scores(mapped: list[Mapped], fit: PowerCoefficients) -> list[dict]:
    """Mean |error| of one fit (e.g. the shipped one) per (source, chip, scope): in-sample
    on the rows it was fitted on, held out on every other mapped row (each row's current
    prediction under its stack)."""
    used = set(fit.fitted_on + fit.node_fitted_on)
    errors: dict[tuple[str, str, str], dict[str, list[tuple[float, float]]]] = {}
    for m in mapped:
        setup, p = m.row.setup, predict(m, fit)
        assert setup is not None
        kind = "in_sample" if m.row.row_id in used else "held_out"
        group = errors.setdefault((m.row.source, setup.chip_id, setup.scope), {})
        group.setdefault(kind, []).append((abs(_err(p.power_w, m.row.measured_power_w)),
                                           abs(_err(p.j_per_token, m.row.measured_j_per_token))))  # fmt: skip
    out = []
    for (source, chip, scope), kinds in sorted(errors.items()):
        entry: dict[str, object] = {"source": source, "chip": chip, "scope": scope}
        for kind, pairs in kinds.items():
            entry |= {f"rows_{kind}": len(pairs),
                      f"power_mape_{kind}": mean(w for w, _ in pairs),
                      f"j_per_token_mape_{kind}": mean(j for _, j in pairs)}  # fmt: skip
        out.append(entry)
    return out


def _packaged(path) -> bool:
    """Whether `path` is the power_fit.json the model reads (its power caps included)."""
    from importlib import resources
    from pathlib import Path

    from tigris.cost.power_scope import FIT_FILE

    shipped = Path(str(resources.files("tigris.cost").joinpath("data", FIT_FILE)))
    return Path(path).resolve() == shipped.resolve()


def _reload_models() -> None:
    """Forget the cached fit and row models, so a rewritten power_fit.json is read."""
    from tigris.cost.power_scope import default_coefficients
    from tigris.validate.power_predict import model_row

    default_coefficients.cache_clear()
    model_row.cache_clear()


def write_development_fit(rows: list[PowerRow], path, progress=None) -> dict[str, object]:
    """Refit the shipped fit on its recorded development rows and write it to `path`.
    A capped row is timed at the clock the packaged fit's board terms allow
    (power_predict.model_row), so when `path` is that file the refit is repeated until it
    no longer moves the fit (a fixed point; a few passes). Returns the old and new fits'
    scores (development_scores) and the recorded ids that no longer map."""
    import json

    from tigris.cost.power_scope import default_coefficients
    from tigris.io.output import write_output

    recorded = default_coefficients()
    mapped, _ = run_models(rows, progress)
    before = development_scores(mapped, recorded)
    previous, passes = recorded, 0
    while passes < FIXED_POINT_PASSES:
        fit, missing = refit_development(mapped, recorded)
        write_output(path, json.dumps(fit.to_dict(), indent=1) + "\n", option="--write-fit-dev")
        passes, fixed_point = passes + 1, _same_fit(fit, previous)
        if fixed_point or not _packaged(path):
            break
        _reload_models()  # time the capped rows again under the fit just written
        mapped, previous = run_models(rows, progress)[0], fit
    return {"missing": missing, "passes": passes, "fixed_point": fixed_point, "before": before,
            "after": development_scores(mapped, fit), "fit": fit.to_dict()}  # fmt: skip


def _same_fit(a: PowerCoefficients, b: PowerCoefficients) -> bool:
    terms = ("static_fraction", "memory_scale", "host_w_per_chip")
    return all(abs(getattr(a, t) - getattr(b, t)) <= 1e-6 * max(1.0, abs(getattr(b, t)))
               for t in terms)  # fmt: skip


def main(argv: list[str]) -> int:
    """`python -m tigris.validate.power_score [--write-fit-dev PATH] [--write-intervals
    PATH]`: refit power_fit.json on its recorded development rows, and/or rewrite
    power_interval.json from `validate power --holdout source` and `--holdout chip`'s
    held-out residuals (with the packaged fit: write the fit first, or in the same call).
    Prints the old and new fits' scores as JSON."""
    import argparse
    import json

    from tigris.io.output import check_output_path, write_output
    from tigris.validate.power import read_power_rows

    parser = argparse.ArgumentParser(prog="python -m tigris.validate.power_score")
    parser.add_argument("--write-fit-dev", metavar="PATH", help="the refitted power_fit.json")
    parser.add_argument("--write-intervals", metavar="PATH", help="the power_interval.json")
    args = parser.parse_args(argv)
    for path, option in ((args.write_fit_dev, "--write-fit-dev"),
                         (args.write_intervals, "--write-intervals")):  # fmt: skip
        if path is not None:
            check_output_path(path, option=option)
    rows, report = read_power_rows(), {}
    if args.write_fit_dev is not None:
        report["development_fit"] = write_development_fit(rows, args.write_fit_dev)
    if args.write_intervals is not None:
        table = interval_table(score(rows, "source"), score(rows, "chip"))
        table["source"] = INTERVAL_SOURCE
        write_output(args.write_intervals, json.dumps(table, indent=1) + "\n",
                     option="--write-intervals")  # fmt: skip
        report["intervals"] = table
    print(json.dumps(report, indent=1))
    return 0


INTERVAL_SOURCE = (
    "python -m tigris.validate.power_score --write-intervals (interval_table) on the shipped "
    "power.csv (validate power --holdout source and --holdout chip), with power_fit.json's "
    "model; rewrite after a refit"
)


if __name__ == "__main__":
    import sys

    from tigris.errors import SpecError

    try:
        sys.exit(main(sys.argv[1:]))
    except SpecError as error:  # a bad path: one line, exit 2, as the CLI does
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
