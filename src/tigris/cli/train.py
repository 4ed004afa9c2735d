"""`tigris train` and `tigris validate train|collectives`: thin wrappers over tigris.parallel."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from tigris.errors import SpecError


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")


def _load_model(name: str):
    """A catalog id or a config.json, read strictly (tigris.io.loader: a malformed,
    binary or bomb-like file is a one-line SpecError naming it)."""
    from tigris.workload import load_model

    return load_model(name)


def _format_tree(node, depth: int = 0, total: float | None = None) -> list[str]:
    total = total or node.time_s
    share = 100 * node.time_s / total if total else 0.0
    lines = [f"{'  ' * depth}{node.name:<{34 - 2 * depth}} {node.time_s:10.4f} s  {share:5.1f}%"]
    for child in node.children:
        if child.time_s > 0 or depth == 0:
            lines += _format_tree(child, depth + 1, total)
    return lines


def train(
    model: Annotated[str, typer.Argument(help="Model id (see `tigris models`) or a config.json.")],
    chip: Annotated[str, typer.Option("--chip", help="Chip id or YAML file.")],
    num_chips: Annotated[int, typer.Option("--num-chips", min=1, help="Chips in the run.")],
    global_batch: Annotated[
        int, typer.Option("--global-batch", min=1, max=2**24, help="Sequences per step.")
    ],
    seq_len: Annotated[
        int, typer.Option("--seq-len", min=1, max=2**34, help="Tokens per sequence.")
    ],
    system: Annotated[
        str | None, typer.Option("--system", help="System id or YAML (default: the chip's).")
    ] = None,
    tp: Annotated[int | None, typer.Option("--tp", min=1)] = None,
    pp: Annotated[int | None, typer.Option("--pp", min=1)] = None,
    dp: Annotated[int | None, typer.Option("--dp", min=1)] = None,
    cp: Annotated[int | None, typer.Option("--cp", min=1)] = None,
    ep: Annotated[int | None, typer.Option("--ep", min=1)] = None,
    micro_batch: Annotated[int | None, typer.Option("--micro-batch", min=1)] = None,
    virtual_stages: Annotated[int | None, typer.Option("--virtual-stages", min=1)] = None,
    recompute: Annotated[
        str | None, typer.Option("--recompute", help="none | selective | full")
    ] = None,
    zero: Annotated[int | None, typer.Option("--zero", min=0, max=3, help="ZeRO stage 0-3")] = None,
    sequence_parallel: Annotated[
        bool | None, typer.Option("--sequence-parallel/--no-sequence-parallel")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="bf16 | fp8")] = "bf16",
    tokens: Annotated[
        float | None, typer.Option("--tokens", help="Token budget: time to train.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Plans to list.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Time a training step (or search the best plan) for MODEL on NUM_CHIPS chips."""
    from tigris.hardware.presets import default_cluster, load_chip, load_cluster
    from tigris.parallel.search import search_plans
    from tigris.parallel.step import TrainSetup

    if recompute is not None and recompute not in ("none", "selective", "full"):
        raise SpecError(
            f"unknown recompute {recompute!r}",
            key_path="--recompute",
            hint="none, selective or full",
        )
    if dtype not in ("bf16", "fp8"):
        raise SpecError(f"unknown dtype {dtype!r}", key_path="--dtype", hint="bf16 or fp8")
    if tokens is not None and not 0 < tokens < float("inf"):
        raise SpecError(f"must be a positive number of tokens, got {tokens:g}", key_path="--tokens")
    spec = _load_model(model)
    chip_spec = load_chip(chip)
    chip_spec.peak_flop_per_s(dtype)  # UnsupportedError (exit 2) without that path
    cluster = load_cluster(system) if system else default_cluster(chip_spec)
    if cluster is None:
        raise SpecError(
            f"{chip_spec.id} names no default system", key_path="--system", hint="give --system"
        )
    fixed = {
        "tp": tp,
        "pp": pp,
        "dp": dp,
        "cp": cp,
        "ep": ep,
        "micro_batch": micro_batch,
        "virtual_stages": virtual_stages,
        "recompute": recompute,
        "zero": zero,
        "sequence_parallel": sequence_parallel,
        "dtype": dtype,
    }
    if all(fixed[key] is not None for key in ("tp", "pp", "dp")):
        product = fixed["tp"] * fixed["pp"] * fixed["dp"] * (fixed["cp"] or 1)
        if product != num_chips:
            raise SpecError(
                f"tp x pp x dp x cp = {product}, not the {num_chips} chips", key_path="--num-chips"
            )
    if global_batch % (dp or 1):
        raise SpecError(
            f"global batch {global_batch} is not a multiple of dp={dp}", key_path="--global-batch"
        )
    setup = TrainSetup(spec, chip_spec, cluster, num_chips, global_batch, seq_len)
    found = search_plans(setup, fixed, top_k=top)
    best = found.best
    if as_json:
        out = best.to_dict(tokens)
        out |= {
            "model": spec.name,
            "chip": chip_spec.id,
            "system": cluster.id,
            "plans_searched": found.num_searched,
            "plans_valid": found.num_valid,
            "plans_fit": found.num_fit,
            "top": [
                {"plan": r.plan.as_dict(), "step_time_s": r.step_time_s, "mfu": r.mfu}
                for r in found.top
            ],
        }
        _print_json(out)
        return
    lines = [
        f"{spec.name} on {num_chips} x {chip_spec.id} ({cluster.id}), "
        f"batch {global_batch} x {seq_len} tokens, {dtype}",
        f"plans searched: {found.num_searched} (valid {found.num_valid}, fit {found.num_fit})",
        f"best plan: {best.plan.as_dict()}",
        f"step time {best.step_time_s:.4f} s   MFU {100 * best.mfu:.1f}%   HFU {100 * best.hfu:.1f}%",
        f"tokens/s {best.tokens_per_s:.4g}   model flop/s per chip {best.model_flop_per_s_per_chip:.4g}",
        f"memory per chip {best.memory.total_bytes / 1e9:.2f} GB of {best.memory.usable_bytes / 1e9:.1f} GB usable",
    ]
    if tokens:
        days = best.time_to_train_s(tokens) / 86400
        lines.append(f"time to train {tokens:.3g} tokens: {days:.2f} days")
    lines.append("where the step goes:")
    lines += _format_tree(best.breakdown)
    typer.echo("\n".join(lines))
    if len(found.top) > 1:
        _print_top_plans(found.top)


def _print_top_plans(top) -> None:
    """The best plans as a table fitted to the terminal (no number is ever cut)."""
    from rich.console import Console

    from tigris.cli.fit_table import Column, print_table

    def number(header: str, priority: int = 0) -> Column:
        return Column(header, priority, numeric=True, justify="right")

    columns = (
        number("#"),
        *(number(h) for h in ("tp", "pp", "dp")),
        number("cp", 3),
        number("ep", 3),
        number("mb", 1),
        number("v", 1),
        Column("recompute", 2),
        number("ZeRO", 2),
        Column("sp", 2),
        number("step time"),
        number("MFU"),
    )
    rows = [
        [
            str(rank),
            *(str(v) for v in (r.plan.tp, r.plan.pp, r.plan.dp, r.plan.cp, r.plan.ep)),
            str(r.plan.micro_batch),
            str(r.plan.virtual_stages),
            str(r.plan.recompute),
            str(r.plan.zero),
            "yes" if r.plan.sequence_parallel else "no",
            f"{r.step_time_s:.4f} s",
            f"{100 * r.mfu:.1f}%",
        ]
        for rank, r in enumerate(top, 1)
    ]
    print_table(Console(), f"top {len(top)} plans", columns, rows, hint="--json lists every field")


def validate_train_command(
    source: Annotated[
        str | None, typer.Option("--source", help="megatron | mosaicml | maxtext")
    ] = None,
    rows: Annotated[bool, typer.Option("--rows", help="Also print every row.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Predicted vs measured for the train_cluster rows of the calibration data."""
    from tigris.validate.train import load_train_cases, summarize_train, validate_train

    known = sorted({case.source for case in load_train_cases()})
    if source is not None and source not in known:
        raise SpecError(f"unknown source {source!r}", key_path="--source", hint=", ".join(known))
    from tigris.cli.progress import Progress

    with Progress("validate train: rows", quiet=quiet) as bar:
        results = validate_train((source,) if source else None, progress=bar.update)
    summary = summarize_train(results)
    if as_json:
        _print_json(
            {
                "summary": {
                    k: dict(
                        zip(
                            ("rows", "mean_abs_error_pct", "max_abs_error_pct", "mean_error_pct"),
                            v,
                            strict=True,
                        )
                    )
                    for k, v in summary.items()
                },
                "rows": [
                    {
                        "id": r.case.row_id,
                        "source": r.case.source,
                        "chip": r.case.chip_id,
                        "num_chips": r.case.num_chips,
                        "metric": r.case.metric,
                        "measured": r.case.measured,
                        "predicted": r.predicted,
                        "error_pct": r.error_pct,
                        "plan": r.plan,
                        "note": r.note,
                    }
                    for r in results
                ],
            }
        )
        return
    if rows:
        for r in results:
            error = f"{r.error_pct:+7.1f}%" if r.error_pct is not None else "skipped"
            predicted = f"{r.predicted:.4g}" if r.predicted is not None else "-"
            apart = f"  ({r.note})" if r.case.apart else ""
            typer.echo(
                f"{r.case.row_id:<32} {r.case.metric:<30} measured {r.case.measured:.4g}  predicted {predicted}  {error}{apart}"
            )
    typer.echo(
        f"{'source':<28} {'rows':>5} {'mean |err| %':>13} {'max |err| %':>12} {'mean err %':>11}"
    )
    for key, (count, mean_abs, max_abs, signed) in summary.items():
        typer.echo(f"{key:<28} {count:>5} {mean_abs:>13.1f} {max_abs:>12.1f} {signed:>+11.1f}")


def validate_collectives_command(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Predicted vs measured for the collective rows (NCCL bus bandwidth and time)."""
    from tigris.cli.progress import Progress
    from tigris.validate.collectives import summarize_collectives, validate_collectives

    with Progress("validate collectives: rows", quiet=quiet) as bar:
        results = validate_collectives(progress=bar.update)
    summary = summarize_collectives(results)
    if as_json:
        _print_json(
            {
                "summary": {
                    k: dict(
                        zip(("rows", "mean_abs_error_pct", "max_abs_error_pct"), v, strict=True)
                    )
                    for k, v in summary.items()
                },
                "rows": [
                    {
                        "id": r.case.row_id,
                        "metric": r.case.metric,
                        "measured": r.case.measured,
                        "predicted": r.predicted,
                        "error_pct": r.error_pct,
                        "skipped": r.case.skipped,
                    }
                    for r in results
                ],
            }
        )
        return
    typer.echo(f"{'group':<40} {'rows':>5} {'mean |err| %':>13} {'max |err| %':>12}")
    for key, (count, mean_abs, max_abs) in sorted(summary.items()):
        typer.echo(f"{key:<40} {count:>5} {mean_abs:>13.1f} {max_abs:>12.1f}")
    skipped = [r for r in results if r.case.skipped]
    if skipped:
        typer.echo(
            f"{len(skipped)} rows skipped: " + "; ".join(sorted({r.case.skipped for r in skipped}))
        )


def validate_attention_command(
    rows: Annotated[bool, typer.Option("--rows", help="Also print every row.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Predicted vs measured attention throughput (FlashAttention-2/1, standard; fwd + bwd)."""
    from tigris.cli.progress import Progress
    from tigris.validate.attention import summarize_attention, validate_attention

    with Progress("validate attention: rows", quiet=quiet) as bar:
        results = validate_attention(progress=bar.update)
    summary = summarize_attention(results)
    fields = ("rows", "mean_abs_error_pct", "max_abs_error_pct", "mean_error_pct")
    if as_json:
        _print_json(
            {
                "summary": {
                    f"{c} {i}": dict(zip(fields, v, strict=True)) for (c, i), v in summary.items()
                },
                "rows": [
                    {
                        "id": r.case.row_id,
                        "chip": r.case.chip_id,
                        "implementation": r.case.implementation,
                        "seq_len": r.case.seq_len,
                        "head_dim": r.case.head_dim,
                        "causal": r.case.causal,
                        "measured_flop_per_s": r.case.measured_flop_per_s,
                        "predicted_flop_per_s": r.predicted_flop_per_s,
                        "error_pct": r.error_pct,
                    }
                    for r in results
                ],
            }
        )
        return
    if rows:
        for r in results:
            c = r.case
            typer.echo(
                f"{c.row_id:<12} {c.chip_id:<14} {c.implementation:<8} s={c.seq_len:<6} "
                f"d={c.head_dim:<4} {'causal' if c.causal else 'full  '} measured "
                f"{c.measured_flop_per_s / 1e12:6.1f} predicted {r.predicted_flop_per_s / 1e12:6.1f}"
                f" TFLOP/s {r.error_pct:+7.1f}%"
            )
    typer.echo(
        f"{'chip / implementation':<28} {'rows':>5} {'mean |err| %':>13} {'max |err| %':>12} {'mean err %':>11}"
    )
    for (chip, implementation), (count, mean_abs, max_abs, signed) in summary.items():
        key = f"{chip} {implementation}"
        typer.echo(f"{key:<28} {count:>5} {mean_abs:>13.1f} {max_abs:>12.1f} {signed:>+11.1f}")


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `tigris train`, `tigris validate train|collectives|attention`."""
    app.command("train")(train)
    validate_app.command("train")(validate_train_command)
    validate_app.command("collectives")(validate_collectives_command)
    validate_app.command("attention")(validate_attention_command)
