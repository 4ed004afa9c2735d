"""`tigris train`, `tigris infer` and `tigris validate train|infer`: thin wrappers over
tigris.api and tigris.validate (parse the options, call, print)."""

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tigris.api.training import MAX_GLOBAL_BATCH, MAX_SEQ_LEN

if TYPE_CHECKING:
    from tigris.api.inference import InferResult
    from tigris.api.training import TrainResult

Model = Annotated[str, typer.Argument(help="Model id (see `tigris models`) or a config.json.")]
ChipOpt = Annotated[str, typer.Option("--chip", help="Chip id or YAML file.")]
# A plan option held fixed (None: searched); typer names each --tp, --micro-batch, ...
PlanOpt = Annotated[int | None, typer.Option(min=1)]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]
Rows = Annotated[bool, typer.Option("--rows", help="Also print every row.")]
StackOpt = Annotated[
    str | None,
    typer.Option("--stack", help="Software stack: trtllm, vllm, vllm-rocm, sglang, jax-xla, "
                 "megatron, nemo, maxtext... (default: the chip's, as calibrated)."),
]  # fmt: skip
PowerCap = Annotated[
    str | None,
    typer.Option("--power-cap", help="Per-chip power cap, e.g. '450 W' (MaxQ-style: slower)."),
]


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")


def _format_tree(node, depth: int = 0, total: float | None = None) -> list[str]:
    total = total or node.time_s
    share = 100 * node.time_s / total if total else 0.0
    lines = [f"{'  ' * depth}{node.name:<{34 - 2 * depth}} {node.time_s:10.4f} s  {share:5.1f}%"]
    for child in node.children:
        if child.time_s > 0 or depth == 0:
            lines += _format_tree(child, depth + 1, total)
    return lines


# ---------------------------------------------------------------------------- train


MoeImbalance = Annotated[
    float | None,
    typer.Option(
        "--moe-imbalance",
        help="Busiest expert-parallel rank's routed tokens / mean (default 1).",
    ),
]


def train(
    model: Model,
    chip: ChipOpt,
    num_chips: Annotated[int, typer.Option("--num-chips", min=1, help="Chips in the run.")],
    global_batch: Annotated[
        int, typer.Option("--global-batch", min=1, max=MAX_GLOBAL_BATCH, help="Sequences per step.")
    ],
    seq_len: Annotated[
        int, typer.Option("--seq-len", min=1, max=MAX_SEQ_LEN, help="Tokens per sequence.")
    ],
    system: Annotated[
        str | None, typer.Option("--system", help="System id or YAML (default: the chip's).")
    ] = None,
    tp: PlanOpt = None,
    pp: PlanOpt = None,
    dp: PlanOpt = None,
    cp: PlanOpt = None,
    ep: PlanOpt = None,
    micro_batch: PlanOpt = None,
    virtual_stages: PlanOpt = None,
    pp_layers: Annotated[
        str | None,
        typer.Option("--pp-layers", help="Layers of each pipeline stage, e.g. 7,8,8,7."),
    ] = None,
    pp_schedule: Annotated[
        str | None,
        typer.Option("--pp-schedule", help="1f1b | interleaved | dualpipe (default: searched v)"),
    ] = None,
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
    power_cap: PowerCap = None,
    goodput: Annotated[
        bool,
        typer.Option("--goodput", help="Add failures and checkpoints: wall time, goodput, energy."),
    ] = False,
    storage_gbps: Annotated[
        float | None,
        typer.Option("--storage-gbps", help="Checkpoint storage, all chips, GB/s (1e9 bytes/s)."),
    ] = None,
    checkpoint_interval_s: Annotated[
        float | None,
        typer.Option("--checkpoint-interval-s", help="Compute between saves (default: optimum)."),
    ] = None,
    moe_imbalance: MoeImbalance = None,
    ep_all_to_all: Annotated[
        str,
        typer.Option("--ep-all-to-all", help="nccl | deepep (FP8 dispatch, one copy per node)."),
    ] = "nccl",
    finetune: Annotated[
        str, typer.Option("--finetune", help="full | lora (frozen base, adapters) | sft (packed)")
    ] = "full",
    lora_rank: Annotated[
        int | None, typer.Option("--lora-rank", help="LoRA rank r (default 16, MLPerf's).")
    ] = None,
    lora_targets: Annotated[
        str | None,
        typer.Option("--lora-targets", help="q,k,v,qkv,o,gate,up,down (default qkv,o: MLPerf's)."),
    ] = None,
    sft_doc_len: Annotated[
        int | None,
        typer.Option("--sft-doc-len", help="SFT: mean packed document length (default: seq len)."),
    ] = None,
    stack: StackOpt = None,
    fp8_scaling: Annotated[
        str,
        typer.Option("--fp8-scaling", help="tensor | block (DeepSeek-V3's 1x128/128x128 scales)."),
    ] = "tensor",
    as_json: AsJson = False,
) -> None:
    """Time a training step (or search the best plan) for MODEL on NUM_CHIPS chips."""
    # every option but --json is the keyword of tigris.api.train of the same name
    options = {key: value for key, value in locals().items() if key != "as_json"}
    from tigris.api.training import train as search_training

    result = search_training(**options)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_training(result)


def _print_training(result: "TrainResult") -> None:
    """The best plan, its step time by part, and the top plans as a table."""
    best = result.best
    found = result.search
    lines = [
        f"{result.model.name} on {result.num_chips} x {result.chip.id} ({result.system.id}), "
        f"batch {result.global_batch} x {result.seq_len} tokens, {result.dtype}",
        f"plans searched: {found.num_searched} (valid {found.num_valid}, fit {found.num_fit})",
        f"best plan: {best.plan.as_dict()}",
        f"step time {best.step_time_s:.4f} s   MFU {100 * best.mfu:.1f}%   HFU {100 * best.hfu:.1f}%",
        f"tokens/s {best.tokens_per_s:.4g}   model flop/s per chip {best.model_flop_per_s_per_chip:.4g}",
        f"memory per chip {best.memory.total_bytes / 1e9:.2f} GB of {best.memory.usable_bytes / 1e9:.1f} GB usable",
    ]
    if result.tokens:
        days = best.time_to_train_s(result.tokens) / 86400
        lines.append(f"time to train {result.tokens:.3g} tokens: {days:.2f} days")
    lines.append("where the step goes:")
    lines += _format_tree(best.breakdown)
    typer.echo("\n".join(lines))
    if len(found.top) > 1:
        _print_top_plans(found.top)
    if result.goodput is not None:
        _print_goodput(result.to_dict()["goodput"])


def _print_goodput(data: dict) -> None:
    """The `goodput` object of --json as a short table."""
    from tigris.units import format_quantity

    def seconds(key: str) -> str:
        value = data[key]
        if value is None:
            return "never"
        return f"{value / 3600:.3g} h" if value >= 3600 else format_quantity(value, "time")

    _table(
        "with failures and checkpoints (Llama 3 interruption rates)",
        [
            ("wall-clock time", f"{data['wall_time_s'] / 86400:.2f} days"),
            ("goodput", f"{100 * data['goodput']:.1f}%"),
            ("expected interruptions", f"{data['expected_interruptions']:.1f}"),
            ("mean time to interrupt", seconds("mtti_s")),
            ("checkpoint size", format_quantity(data["checkpoint_bytes"], "capacity")),
            ("checkpoint save", seconds("checkpoint_save_s")),
            ("checkpoint interval", seconds("checkpoint_interval_s")),
            ("optimal interval (Daly)", seconds("optimal_checkpoint_interval_s")),
            ("energy at the wall", f"{data['energy_j'] / 3.6e9:,.4g} MWh"),
        ],
    )


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


# ---------------------------------------------------------------------------- infer

Speculative = Annotated[
    str | None,
    typer.Option(
        "--speculative",
        help="draft=MODEL,tokens=K,acceptance=A or mtp,tokens=K,acceptance=A: speculative "
        "decoding (A, the per-token acceptance rate, is an input: DeepSeek-V3 reports 0.85-0.9 "
        "for its MTP module; measure a draft's on your text).",
    ),
]


def infer_command(
    model: Model,
    chip: ChipOpt = "h100-sxm",
    num_chips: Annotated[
        int, typer.Option("--num-chips", help="Chips in all (replicas x tp x ep x pp).")
    ] = 1,
    tp: Annotated[
        int | None, typer.Option("--tp", help="Tensor parallel ways (default: all chips).")
    ] = None,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages.")] = 1,
    ep: Annotated[int, typer.Option("--ep", help="Expert parallel ways (MoE).")] = 1,
    batch: Annotated[int, typer.Option("--batch", help="Sequences per replica.")] = 1,
    input_len: Annotated[int, typer.Option("--input-len", help="Prompt tokens.")] = 512,
    output_len: Annotated[int, typer.Option("--output-len", help="Generated tokens.")] = 128,
    weight_dtype: Annotated[
        str | None,
        typer.Option("--weight-dtype", help="bf16 | fp16 | fp8 | int8 | int4 (default: compute)"),
    ] = None,
    kv_dtype: Annotated[
        str | None, typer.Option("--kv-dtype", help="KV-cache dtype (default: compute).")
    ] = None,
    compute_dtype: Annotated[
        str, typer.Option("--compute-dtype", help="Activations and GEMM inputs: bf16 | fp16 | fp8.")
    ] = "bf16",
    power_cap: PowerCap = None,
    speculative: Speculative = None,
    stack: StackOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Latency, throughput and memory of one static batch (prefill, then decode)."""
    # every option but --json is the keyword of tigris.api.infer of the same name
    options = {key: value for key, value in locals().items() if key != "as_json"}
    from tigris.api.inference import infer

    result = infer(**options)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_inference(result)


def _print_inference(result: "InferResult") -> None:
    from tigris.units import format_quantity

    r = result.estimate
    _table(
        f"{r.model} on {r.num_chips} x {r.chip} (tp {r.tp}, pp {r.pp}, ep {r.ep}), "
        f"batch {r.batch}, {r.input_len} in / {r.output_len} out",
        [
            ("TTFT", format_quantity(r.ttft_s, "time")),
            ("TPOT", format_quantity(r.tpot_s, "time")),
            ("end to end", format_quantity(r.e2e_latency_s, "time")),
            ("throughput", f"{r.throughput_tokens_per_s:,.0f} output tokens/s"),
            ("memory per chip", format_quantity(r.memory_per_chip_bytes, "capacity")),
            ("weights per chip", format_quantity(r.weights_per_chip_bytes, "capacity")),
            ("max batch", str(r.max_batch)),
            ("fits", "yes" if r.fits else "NO"),
        ],
    )


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console

    from tigris.cli.fit_table import Column, print_table

    # fitted to the terminal: values wrap between words only, a number is never cut
    columns = (Column("quantity"), Column("value"))
    print_table(Console(), title, columns, [list(row) for row in rows], show_header=False)


# ---------------------------------------------------------------------------- validate


Holdout = Annotated[
    str, typer.Option("--holdout", help="source | chip: what each held-out score leaves out")
]
DataFile = Annotated[
    str | None, typer.Option("--data", help="Score this CSV (measured.csv's schema) instead.")
]


def validate_train_command(
    source: Annotated[
        str | None, typer.Option("--source", help="megatron | mosaicml | maxtext")
    ] = None,
    holdout: Holdout = "source",
    data: DataFile = None,
    rows: Rows = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Predicted vs measured for the train_cluster rows: in-sample and held-out."""
    from pathlib import Path

    from tigris.api.inputs import check_choice
    from tigris.cli.holdout_table import print_error_summary, print_groups, print_unmapped
    from tigris.cli.progress import Progress
    from tigris.validate.protocol import check_holdout, summarize_groups
    from tigris.validate.train import load_train_cases, summarize_train
    from tigris.validate.train_protocol import validate_train_protocol

    check_holdout(holdout)
    if source is not None:
        known = sorted({case.source for case in load_train_cases()})
        check_choice(source, known, "--source", hint=", ".join(known))
    with Progress("validate train: rows", quiet=quiet) as bar:
        found = validate_train_protocol(
            Path(data) if data else None,
            holdout,
            (source,) if source else None,
            progress=bar.update,
        )
    summary = summarize_train(found.results)
    groups = summarize_groups(found.scored)
    if as_json:
        _print_json(_train_validation_dict(found, summary, groups))
        return
    if rows:
        _print_train_rows(found.results)
    print_error_summary("source", summary)
    print_groups(groups, "train_cluster", holdout)
    _print_memory_failures(found.results)
    print_unmapped(found.unmapped)


def _print_memory_failures(results: list) -> None:
    """Rows the memory model rejects (counted at -100 % above), with the error of their
    fastest plan ignoring memory."""
    failures = [r for r in results if r.memory_failure]
    if not failures:
        return
    typer.echo(f"{len(failures)} memory-model failures (counted as -100 %; time-only error):")
    for r in failures:
        time_only = r.time_only_error_pct
        shown = f"{time_only:+.1f}%" if time_only is not None else "-"
        typer.echo(f"  {r.case.row_id:<32} {shown}")


def _train_validation_dict(found: object, summary: dict, groups: list) -> dict[str, object]:
    """What `tigris validate train --json` prints: the summary per source, the protocol's
    groups, each row, the unmapped rows."""
    fields = ("rows", "mean_abs_error_pct", "max_abs_error_pct", "mean_error_pct")
    scored = {s.case.id: s for s in found.scored}
    return {
        "holdout": found.holdout,
        "summary": {key: dict(zip(fields, value, strict=True)) for key, value in summary.items()},
        "groups": groups,
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
                "memory_failure": r.memory_failure,
                "time_only_predicted": r.time_only_predicted,
                "time_only_error_pct": r.time_only_error_pct,
                "fitted": False,
                "predicted_held_out": scored[r.case.row_id].predicted_held_out,
                "error_pct_held_out": scored[r.case.row_id].error_pct(held_out=True),
                "interval": scored[r.case.row_id].interval,
            }
            for r in found.results
        ],
        "unmapped": [u.to_dict() for u in found.unmapped],
    }


def _print_train_rows(results: list) -> None:
    for r in results:
        error = f"{r.error_pct:+7.1f}%" if r.error_pct is not None else "skipped"
        predicted = f"{r.predicted:.4g}" if r.predicted is not None else "-"
        note = f"  ({r.note})" if r.note else ""
        typer.echo(
            f"{r.case.row_id:<32} {r.case.metric:<30} measured {r.case.measured:.4g}  predicted {predicted}  {error}{note}"
        )


def validate_infer_command(
    holdout: Holdout = "source",
    data: DataFile = None,
    rows: Rows = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Predicted vs measured for the infer_chip and infer_cluster rows: in-sample and
    held-out."""
    from pathlib import Path

    from tigris.cli.holdout_table import print_groups, print_unmapped
    from tigris.cli.progress import Progress
    from tigris.validate.infer import summarize_by_source
    from tigris.validate.infer_protocol import validate_infer_protocol
    from tigris.validate.protocol import check_holdout, summarize_groups

    check_holdout(holdout)
    with Progress("validate infer: rows", quiet=quiet) as bar:
        found = validate_infer_protocol(Path(data) if data else None, holdout, progress=bar.update)
    summary = summarize_by_source(found.results)
    groups = summarize_groups(found.scored)
    if as_json:
        scored = {s.case.id: s for s in found.scored}
        _print_json(
            {
                "holdout": holdout,
                "summary": summary,
                "groups": groups,
                "rows": [_infer_row(r, scored.get(r.row_id)) for r in found.results],
                "unmapped": [u.to_dict() for u in found.unmapped],
            }
        )
        return
    from rich.console import Console

    console = Console()
    if rows:
        console.print(_infer_rows_table(found.results))
    console.print(_infer_summary_table(summary))
    print_groups(groups, "infer_chip and infer_cluster", holdout)
    print_unmapped(found.unmapped)


def _infer_row(result: object, scored: object) -> dict[str, object]:
    """One validate-infer row as --json prints it: the old keys, then the protocol's."""
    return result.to_dict() | {  # type: ignore[attr-defined]
        "id": result.row_id,  # type: ignore[attr-defined]
        "fitted": scored.case.fitted if scored else False,  # type: ignore[attr-defined]
        "predicted_held_out": scored.predicted_held_out if scored else None,  # type: ignore[attr-defined]
        "error_pct_held_out": scored.error_pct(held_out=True) if scored else None,  # type: ignore[attr-defined]
        "interval": scored.interval if scored else None,  # type: ignore[attr-defined]
    }


def _infer_rows_table(results: list):
    from rich.table import Table

    detail = Table(title="Rows")
    for column in ("id", "metric", "measured", "predicted", "error %"):
        detail.add_column(column, no_wrap=column == "id")
    for r in results:
        if r.error_pct is not None:
            detail.add_row(
                r.row_id, r.metric, f"{r.measured:.4g}", f"{r.predicted:.4g}", f"{r.error_pct:+.1f}"
            )
    return detail


def _infer_summary_table(summary: list[dict]):
    from rich.table import Table

    table = Table(title="Inference: predicted vs measured, absolute % error per source")
    for column in ("source", "rows", "skipped", "mean |error| %", "max |error| %"):
        table.add_column(column)
    for item in summary:
        table.add_row(
            item["source"],
            str(item["num_rows"]),
            str(item["num_skipped"]),
            f"{item['mean_abs_error_pct']:.1f}",
            f"{item['max_abs_error_pct']:.1f}",
        )
    return table


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `tigris train`, `tigris infer`, `tigris validate train|infer` (validate
    attention|collectives: tigris.cli.kernels)."""
    app.command("train")(train)
    app.command("infer")(infer_command)
    validate_app.command("train")(validate_train_command)
    validate_app.command("infer")(validate_infer_command)
