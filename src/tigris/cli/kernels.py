"""`tigris attention|collective|stream` (single kernels, tigris.api.kernels) and
`tigris validate attention|collectives` (the protocol: in-sample and held-out): thin
wrappers (parse the options, call, print)."""

import json
import sys
from typing import Annotated, Any

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]
Rows = Annotated[bool, typer.Option("--rows", help="Also print every row.")]
Holdout = Annotated[
    str, typer.Option("--holdout", help="source | chip: what each held-out score leaves out")
]
DataFile = Annotated[
    str | None, typer.Option("--data", help="Score this CSV (measured.csv's schema) instead.")
]
ChipOpt = Annotated[str, typer.Option("--chip", help="Chip id or YAML file.")]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a chip field: key.path=value.")
]


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")


def _print_pairs(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console

    from tigris.cli.fit_table import Column, print_table

    columns = (Column("quantity"), Column("value"))
    print_table(Console(), title, columns, [list(row) for row in rows], show_header=False)


def _interval_text(interval: dict | None) -> str:
    from tigris.units import format_quantity

    if interval is None:
        return "none (too few held-out rows)"
    low, high = (format_quantity(interval[k], "time") for k in ("low", "high"))
    return f"{low} to {high} ({100 * interval['coverage']:.0f}%: {interval['basis']})"


# ---------------------------------------------------------------------------- kernels


def attention_command(
    chip: ChipOpt,
    batch: Annotated[int, typer.Option("--batch", help="Sequences.")],
    heads: Annotated[int, typer.Option("--heads", help="Query heads.")],
    head_dim: Annotated[int, typer.Option("--head-dim", help="Width of one head.")],
    seq_len: Annotated[int, typer.Option("--seq-len", help="Query tokens per sequence.")],
    kv_heads: Annotated[
        int | None, typer.Option("--kv-heads", help="KV heads (default: --heads).")
    ] = None,
    kv_len: Annotated[
        int | None, typer.Option("--kv-len", help="Key tokens (default: --seq-len).")
    ] = None,
    causal: Annotated[bool, typer.Option("--causal/--no-causal")] = True,
    phase: Annotated[str, typer.Option("--phase", help="fwd | bwd | fwd+bwd")] = "fwd",
    impl: Annotated[
        str,
        typer.Option(
            "--impl", help="flash2 | flash1 | flash3 | cudnn | triton | standard | fused_softmax"
        ),
    ] = "flash2",
    dtype: Annotated[str, typer.Option("--dtype", help="bf16 | fp16 | fp8")] = "bf16",
    overrides: SetOption = None,
    as_json: AsJson = False,
) -> None:
    """Time one attention call on a chip: time, TFLOP/s, bytes, bound, 80 % interval."""
    from tigris.api.kernels import attention
    from tigris.units import format_quantity

    result = attention(
        chip=chip, batch=batch, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        seq_len=seq_len, kv_len=kv_len, causal=causal, phase=phase, implementation=impl,
        dtype=dtype, overrides=overrides,
    )  # fmt: skip
    data = result.to_dict()
    if as_json:
        _print_json(data)
        return
    _print_pairs(
        f"attention {phase} ({impl}, {dtype}) on {result.chip.name}",
        [
            ("time", format_quantity(data["time_s"], "time")),
            ("80% interval", _interval_text(result.interval)),
            ("achieved", format_quantity(data["achieved_flop_per_s"], "flop_rate")),
            ("DRAM traffic", format_quantity(data["dram_bytes"], "capacity")),
            ("bound by", result.bound),
        ],
    )


def collective_command(
    system: Annotated[str, typer.Option("--system", help="System id or YAML file.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="all_reduce | all_gather | reduce_scatter | all_to_all | broadcast"
        ),
    ],
    message_bytes: Annotated[
        str, typer.Option("--bytes", help="Buffer per rank: bytes or '1 GiB'.")
    ],
    ranks: Annotated[int, typer.Option("--ranks", help="Ranks (consecutive, from 0).")],
    as_json: AsJson = False,
) -> None:
    """Time one collective: time, algorithm and bus bandwidth, the tier it crosses."""
    from tigris.api.kernels import collective
    from tigris.units import format_quantity

    result = collective(system=system, kind=kind, message_bytes=message_bytes, ranks=ranks)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_pairs(
        f"{kind} of {format_quantity(result.message_bytes, 'capacity')} over {ranks} ranks "
        f"of {result.system.id}",
        [
            ("time", format_quantity(result.time_s, "time")),
            ("80% interval", _interval_text(result.interval)),
            ("algorithm bandwidth", format_quantity(result.algorithm_bandwidth, "bandwidth")),
            ("bus bandwidth", format_quantity(result.bus_bandwidth, "bandwidth")),
            ("slowest tier", result.tier),
        ],
    )


def stream_command(
    chip: ChipOpt,
    read_bytes: Annotated[
        str, typer.Option("--read-bytes", help="DRAM bytes read: bytes or '1 GiB'.")
    ] = "0",
    write_bytes: Annotated[
        str, typer.Option("--write-bytes", help="DRAM bytes written: bytes or '1 GiB'.")
    ] = "0",
    overrides: SetOption = None,
    as_json: AsJson = False,
) -> None:
    """Time a memory-bound kernel (bytes read and written once): time, bandwidth."""
    from tigris.api.kernels import stream
    from tigris.units import format_quantity

    result = stream(chip=chip, read_bytes=read_bytes, write_bytes=write_bytes, overrides=overrides)
    data = result.to_dict()
    if as_json:
        _print_json(data)
        return
    _print_pairs(
        f"stream on {result.chip.name}",
        [
            ("time", format_quantity(data["time_s"], "time")),
            ("80% interval", _interval_text(result.interval)),
            ("achieved", format_quantity(data["achieved_bytes_per_s"], "bandwidth")),
            ("DRAM peak", format_quantity(data["peak_bytes_per_s"], "bandwidth")),
            ("bound by", result.timing.bound),
        ],
    )


# ---------------------------------------------------------------------------- validate


def _protocol_keys(scored: Any) -> dict[str, object]:
    """The protocol's keys of one row (None where the row was not scored)."""
    return {
        "fitted": scored.case.fitted if scored else False,
        "predicted_held_out": scored.predicted_held_out if scored else None,
        "error_pct_held_out": scored.error_pct(held_out=True) if scored else None,
        "interval": scored.interval if scored else None,
    }


def validate_attention_command(
    holdout: Holdout = "source",
    data: DataFile = None,
    rows: Rows = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Predicted vs measured attention throughput (FlashAttention-2/1, standard; fwd + bwd):
    in-sample and held-out."""
    from pathlib import Path

    from tigris.cli.holdout_table import print_error_summary, print_groups, print_unmapped
    from tigris.cli.progress import Progress
    from tigris.validate.attention import summarize_attention
    from tigris.validate.attention_protocol import validate_attention_protocol
    from tigris.validate.protocol import check_holdout, summarize_groups

    check_holdout(holdout)
    with Progress("validate attention: rows", quiet=quiet) as bar:
        found = validate_attention_protocol(
            Path(data) if data else None, holdout, progress=bar.update
        )
    summary = summarize_attention(found.in_sample)
    groups = summarize_groups(found.scored)
    if as_json:
        _print_json(_attention_dict(found, summary, groups))
        return
    if rows:
        _print_attention_rows(found.in_sample)
    print_error_summary("chip / implementation", summary)
    print_groups(groups, "attention", holdout)
    print_unmapped(found.unmapped)


def _attention_dict(found: Any, summary: dict, groups: list) -> dict[str, object]:
    fields = ("rows", "mean_abs_error_pct", "max_abs_error_pct", "mean_error_pct")
    scored = {s.case.id: s for s in found.scored}
    return {
        "holdout": found.holdout,
        "summary": {f"{c} {i}": dict(zip(fields, v, strict=True)) for (c, i), v in summary.items()},
        "groups": groups,
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
                "source": r.case.source,
                "measured": r.case.measured_flop_per_s,
                "predicted": r.predicted_flop_per_s,
                **_protocol_keys(scored.get(r.case.row_id)),
            }
            for r in found.in_sample
        ],
        "unmapped": [u.to_dict() for u in found.unmapped],
    }


def _print_attention_rows(results: list) -> None:
    for r in results:
        c = r.case
        typer.echo(
            f"{c.row_id:<12} {c.chip_id:<14} {c.implementation:<8} s={c.seq_len:<6} "
            f"d={c.head_dim:<4} {'causal' if c.causal else 'full  '} measured "
            f"{c.measured_flop_per_s / 1e12:6.1f} predicted {r.predicted_flop_per_s / 1e12:6.1f}"
            f" TFLOP/s {r.error_pct:+7.1f}%"
        )


def validate_collectives_command(
    holdout: Holdout = "source",
    data: DataFile = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Predicted vs measured for the collective rows (NCCL bus bandwidth and time):
    in-sample with the shipped constants, held out with constants re-fitted."""
    from pathlib import Path

    from tigris.cli.holdout_table import print_groups, print_unmapped
    from tigris.cli.progress import Progress
    from tigris.validate.collective_protocol import validate_collectives_protocol
    from tigris.validate.protocol import check_holdout, summarize_groups

    check_holdout(holdout)
    with Progress("validate collectives: rows", quiet=quiet) as bar:
        found = validate_collectives_protocol(
            Path(data) if data else None, holdout, progress=bar.update
        )
    results = _collective_results(found)
    groups = summarize_groups(found.scored)
    if as_json:
        _print_json(_collectives_dict(found, results, groups))
        return
    _print_collective_summary(results)
    print_groups(groups, "collective", holdout)
    print_unmapped(found.unmapped)


def _collective_results(found: Any) -> list:
    """validate.collectives' results (in-sample, skipped rows too) from the protocol's."""
    from tigris.validate.collectives import CollectiveResult

    scored = {s.case.id: s for s in found.scored}
    out = []
    for case in found.cases:
        row = scored.get(case.row_id)
        out.append(CollectiveResult(case, row.predicted if row else None, row and row.error_pct()))
    return out


def _collectives_dict(found: Any, results: list, groups: list) -> dict[str, object]:
    from tigris.validate.collective_protocol import fit_set
    from tigris.validate.collectives import summarize_collectives

    summary = summarize_collectives(results)
    fields = ("rows", "mean_abs_error_pct", "max_abs_error_pct")
    scored = {s.case.id: s for s in found.scored}
    return {
        "holdout": found.holdout,
        "summary": {k: dict(zip(fields, v, strict=True)) for k, v in summary.items()},
        "groups": groups,
        "fit": found.fit.to_dict(fit_set()) if found.fit else None,
        "rows": [
            {
                "id": r.case.row_id,
                "metric": r.case.metric,
                "measured": r.case.measured,
                "predicted": r.predicted,
                "error_pct": r.error_pct,
                "skipped": r.case.skipped,
                "source": scored[r.case.row_id].case.source if r.case.row_id in scored else None,
                "system": r.case.system_id,
                **_protocol_keys(scored.get(r.case.row_id)),
            }
            for r in results
        ],
        "unmapped": [u.to_dict() for u in found.unmapped],
    }


def _print_collective_summary(results: list) -> None:
    from tigris.validate.collectives import summarize_collectives

    typer.echo(f"{'group':<40} {'rows':>5} {'mean |err| %':>13} {'max |err| %':>12}")
    for key, (count, mean_abs, max_abs) in sorted(summarize_collectives(results).items()):
        typer.echo(f"{key:<40} {count:>5} {mean_abs:>13.1f} {max_abs:>12.1f}")


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `tigris attention|collective|stream` and `tigris validate attention|collectives`."""
    app.command("attention")(attention_command)
    app.command("collective")(collective_command)
    app.command("stream")(stream_command)
    validate_app.command("collectives")(validate_collectives_command)
    validate_app.command("attention")(validate_attention_command)
