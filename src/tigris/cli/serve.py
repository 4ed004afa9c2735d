"""`tigris serve`: a thin wrapper over tigris.api.serve (`infer` lives in cli/train.py)."""

import json
import sys
from typing import Annotated

import typer

from tigris.cli.train import PowerCap, Speculative, StackOpt

Model = Annotated[str, typer.Argument(help="Model id (see `tigris models`) or a config.json.")]
ChipOpt = Annotated[str, typer.Option("--chip", help="Chip id or YAML file.")]
NumChips = Annotated[
    int, typer.Option("--num-chips", help="Chips in all (replicas x tp x ep x pp).")
]
Tp = Annotated[int | None, typer.Option("--tp", help="Tensor parallel ways (default: all chips).")]
Pp = Annotated[int, typer.Option("--pp", help="Pipeline stages.")]
Ep = Annotated[int, typer.Option("--ep", help="Expert parallel ways (MoE).")]
WeightDtype = Annotated[
    str | None,
    typer.Option("--weight-dtype", help="bf16 | fp16 | fp8 | int8 | int4 (default: compute)"),
]
KvDtype = Annotated[
    str | None, typer.Option("--kv-dtype", help="KV-cache dtype (default: compute).")
]
ComputeDtype = Annotated[
    str, typer.Option("--compute-dtype", help="Activations and GEMM inputs: bf16 | fp16 | fp8.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
# `tigris serve`'s longer options, named here so that the command reads as one screen
Scenario = Annotated[
    str, typer.Option("--scenario", help="offline | server | replay (requests as they arrive)")
]
# trace, engine and prefix-cache options (tigris.serving.engines.ServingOptions)
TraceFormat = Annotated[
    str, typer.Option("--trace-format", help="auto | tigris | azure | mooncake | burstgpt")
]
RateScale = Annotated[
    float | None, typer.Option("--rate-scale", help="Replay the trace X times as fast.")
]
Duration = Annotated[
    float | None, typer.Option("--duration", help="Keep the trace's first S seconds.")
]
Sample = Annotated[int | None, typer.Option("--sample", help="N requests of the trace (--seed).")]
Engine = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="vllm | sglang | trtllm: the engine's scheduler defaults (replace --token-budget, "
        "--max-num-seqs, --block-size, --chunked-prefill).",
    ),
]
PrefixShare = Annotated[
    float,
    typer.Option("--prefix-share", help="Share of each prompt that is a common system prompt "
                 "(prefix cache; replay; a trace's hash_ids take precedence)."),
]  # fmt: skip
KvOffload = Annotated[
    float, typer.Option("--kv-offload-gb", help="Host memory per chip for evicted KV (GB).")
]
Rate = Annotated[float | None, typer.Option("--rate", help="Poisson arrivals per second (server).")]
NumRequests = Annotated[int, typer.Option("--num-requests", help="Requests to simulate.")]
LengthDist = Annotated[
    str, typer.Option("--length-dist", help="fixed | uniform | exponential | lognormal")
]
Trace = Annotated[
    str | None, typer.Option("--trace", help="CSV or JSONL: arrival_s, input_len, output_len.")
]
ChunkedPrefill = Annotated[
    bool, typer.Option("--chunked-prefill/--no-chunked-prefill", help="Sarathi-style chunks.")
]
MaxMemory = Annotated[
    str,
    typer.Option(
        "--max-memory",
        help="Refuse a run estimated to need more memory than this (default 2 GiB; "
        "about 160 bytes a request).",
    ),
]
InputLen = Annotated[int, typer.Option("--input-len", help="Mean prompt tokens.")]
OutputLen = Annotated[int, typer.Option("--output-len", help="Mean output tokens.")]
TokenBudget = Annotated[int, typer.Option("--token-budget", help="Tokens per step.")]
MaxNumSeqs = Annotated[int, typer.Option("--max-num-seqs", help="Sequences per step.")]
BlockSize = Annotated[int, typer.Option("--block-size", help="Tokens per KV block.")]
SloTtft = Annotated[float | None, typer.Option("--slo-ttft", help="TTFT SLO, seconds.")]
SloTpot = Annotated[float | None, typer.Option("--slo-tpot", help="TPOT SLO, seconds.")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Random seed (>= 0).")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]
Disaggregate = Annotated[
    bool, typer.Option("--disaggregate", help="Separate prefill and decode pools.")
]
PrefillPool = Annotated[
    str | None,
    typer.Option(
        "--prefill",
        help="Prefill pool CHIP:COUNT[:tp=N,ep=N,stack=NAME] (stack: this pool's --stack).",
    ),
]
DecodePool = Annotated[
    str | None,
    typer.Option(
        "--decode",
        help="Decode pool CHIP:COUNT[:tp=N,ep=N,stack=NAME] (stack: this pool's --stack).",
    ),
]
Search = Annotated[
    bool,
    typer.Option(
        "--search",
        help="Search layouts under the SLO: tp x ep x pp x replicas up to --num-chips, or "
        "with --disaggregate each pool's up to its count.",
    ),
]
Html = Annotated[
    str | None,
    typer.Option("--html", help="With --search: write an HTML report (cost vs p99 TTFT, the "
                 "Pareto front, every layout) to this file."),
]  # fmt: skip
Mkdir = Annotated[bool, typer.Option("--mkdir", help="Create missing parent folders.")]
MaxTime = Annotated[
    str,
    typer.Option(
        "--max-time",
        help="Refuse a run estimated to take longer than this (default 10 min; a rough "
        "upper estimate: a fixed --rate may step one request at a time).",
    ),
]


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console

    from tigris.cli.fit_table import Column, print_table

    # fitted to the terminal: values wrap between words only, a number is never cut
    columns = (Column("quantity"), Column("value"))
    print_table(Console(), title, columns, [list(row) for row in rows], show_header=False)


def serve_command(
    model: Model,
    chip: ChipOpt = "h100-sxm",
    num_chips: NumChips = 1,
    tp: Tp = None,
    pp: Pp = 1,
    ep: Ep = 1,
    scenario: Scenario = "offline",
    rate: Rate = None,
    num_requests: NumRequests = 1000,
    input_len: InputLen = 512,
    output_len: OutputLen = 128,
    length_dist: LengthDist = "fixed",
    trace: Trace = None,
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    compute_dtype: ComputeDtype = "bf16",
    chunked_prefill: ChunkedPrefill = False,
    token_budget: TokenBudget = 8192,
    max_num_seqs: MaxNumSeqs = 256,
    block_size: BlockSize = 16,
    slo_ttft: SloTtft = None,
    slo_tpot: SloTpot = None,
    seed: Seed = 0,
    max_memory: MaxMemory = "2 GiB",
    max_time: MaxTime = "10 min",
    quiet: Quiet = False,
    power_cap: PowerCap = None,
    disaggregate: Disaggregate = False,
    prefill: PrefillPool = None,
    decode: DecodePool = None,
    search: Search = False,
    trace_format: TraceFormat = "auto",
    rate_scale: RateScale = None,
    duration: Duration = None,
    sample: Sample = None,
    engine: Engine = None,
    stack: StackOpt = None,
    prefix_share: PrefixShare = 0.0,
    kv_offload_gb: KvOffload = 0.0,
    speculative: Speculative = None,
    html: Html = None,
    mkdir: Mkdir = False,
    as_json: AsJson = False,
) -> None:
    """Simulate serving (continuous batching, paged KV cache) under an MLPerf scenario."""
    from tigris.cli.disaggregated import check_pool_options

    options = dict(locals())
    check_pool_options(disaggregate, prefill, decode, search and disaggregate)
    _check_html(html, search, mkdir)
    data = _serve_disaggregated(options) if disaggregate else _serve_colocated(options)
    if html is not None:
        from tigris.api.serve_report import write_search_report

        write_search_report(data, html, mkdir=mkdir)


def _check_html(html: str | None, search: bool, mkdir: bool) -> None:
    """--html goes with --search, to a path that can be written (checked before the search)."""
    from tigris.errors import SpecError
    from tigris.io.output import check_output_path

    if html is None:
        if mkdir:
            raise SpecError("goes with --html", key_path="--mkdir")
        return
    if not search:
        raise SpecError("needs --search (the report plots the layouts searched)",
                        key_path="--html")  # fmt: skip
    check_output_path(html, option="--html", mkdir=mkdir)


def _serve_disaggregated(o: dict) -> dict:
    """--disaggregate: the pools' run or layout search (tigris.cli.disaggregated)."""
    from tigris.cli.disaggregated import run_disaggregated

    if o["speculative"] is not None:
        from tigris.errors import SpecError

        raise SpecError("is not modelled with --disaggregate", key_path="--speculative")
    return run_disaggregated(
        o["as_json"], o["quiet"], model=o["model"], prefill=o["prefill"], decode=o["decode"],
        scenario=o["scenario"], rate_per_s=o["rate"], num_requests=o["num_requests"],
        input_len=o["input_len"], output_len=o["output_len"], length_dist=o["length_dist"],
        trace=o["trace"], chunked_prefill=o["chunked_prefill"], slo_ttft_s=o["slo_ttft"],
        slo_tpot_s=o["slo_tpot"], seed=o["seed"], max_memory=o["max_memory"],
        search=o["search"], weight_dtype=o["weight_dtype"], kv_dtype=o["kv_dtype"],
        compute_dtype=o["compute_dtype"], token_budget=o["token_budget"],
        max_num_seqs=o["max_num_seqs"], block_size=o["block_size"],
        options=_serving_options(o),
    )  # fmt: skip


def _serving_options(o: dict):  # noqa: ANN202 (a ServingOptions; imported on use)
    """The trace, engine, stack and prefix-cache options (colocated, and each disaggregated
    pool's unless its spec names its own stack)."""
    from tigris.serving.engines import ServingOptions

    return ServingOptions(
        trace_format=o["trace_format"], rate_scale=o["rate_scale"], duration_s=o["duration"],
        sample=o["sample"], engine=o["engine"], stack=o["stack"], prefix_share=o["prefix_share"],
        kv_offload_gb=o["kv_offload_gb"], seed=o["seed"],
    )  # fmt: skip


def _serve_colocated(o: dict) -> dict:
    """One pool: tigris.api.serve (a scenario's run, or --search over its layouts)."""
    from tigris.api.serving import serve
    from tigris.cli.progress import Progress

    label = "layouts searched" if o["search"] else "simulated requests"
    with Progress(label, quiet=o["quiet"]) as bar:
        result = serve(
            o["model"], chip=o["chip"], num_chips=o["num_chips"], scenario=o["scenario"],
            tp=o["tp"], pp=o["pp"], ep=o["ep"], rate_per_s=o["rate"],
            num_requests=o["num_requests"], input_len=o["input_len"],
            output_len=o["output_len"], length_dist=o["length_dist"], trace=o["trace"],
            weight_dtype=o["weight_dtype"], kv_dtype=o["kv_dtype"],
            compute_dtype=o["compute_dtype"], chunked_prefill=o["chunked_prefill"],
            token_budget=o["token_budget"], max_num_seqs=o["max_num_seqs"],
            block_size=o["block_size"], slo_ttft_s=o["slo_ttft"], slo_tpot_s=o["slo_tpot"],
            seed=o["seed"], max_memory=o["max_memory"], max_time=o["max_time"],
            progress=bar.update, power_cap=o["power_cap"], options=_serving_options(o),
            speculative=o["speculative"], search=o["search"],
        )  # fmt: skip
    data = result.to_dict()
    if o["as_json"]:
        _print_json(data)
    elif o["search"]:
        _print_search(data)
    else:
        _print_serve(data, o["scenario"], o["num_chips"])
    return data


def _print_serve(data: dict, scenario: str, num_chips: int) -> None:
    rows = [
        (key, f"{value:.4g}" if isinstance(value, float) else str(value))
        for key, value in data.items()
        if key not in _JSON_ONLY and value is not None and not isinstance(value, dict)
    ]
    rows += [(f"  {name}", f"{watts:.4g}") for name, watts in data["power_breakdown_w"].items()]
    for name, value in (data.get("speculative") or {}).items():
        rows.append(
            (f"speculative.{name}", f"{value:.4g}" if isinstance(value, float) else str(value))
        )
    _table(f"serve {scenario}: {data['model']} on {num_chips} x {data['chip']}", rows)


def _print_search(data: dict) -> None:
    found = data["search"]
    best = found["cheapest_meeting_slo"]
    rows = [(k, str(found[k])) for k in ("num_layouts", "num_feasible", "num_meeting_slo")]
    rows.append(("cheapest meeting SLO", _layout_line(best) if best else "none"))
    for k, row in enumerate(found["pareto_front"]):
        rows.append((f"Pareto front {k + 1}", _layout_line(row)))
    _table(f"serve --search: {data['model']} on up to {data['num_chips']} x {data['chip']}", rows)


def _layout_line(row: dict) -> str:
    layout = f"tp {row['tp']} ep {row['ep']} pp {row['pp']} x {row['num_replicas']} replicas"
    latency = f"TTFT p99 {row['ttft_p99_s']:.4g} s, TPOT p99 {row['tpot_p99_s']:.4g} s"
    return f"{layout}: ${row['usd_per_hour']:.4g}/h, {latency}"


# in --json only (the table keeps to the terminal's width)
_JSON_ONLY = {"kv_occupancy_over_time", "power_facility_w", "energy_per_token_board_j",
              "energy_per_token_facility_j", "energy_per_token_chip_j", "power_clock_ratio"}  # fmt: skip


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `serve` to the tigris app (`validate_app` kept for the common register signature)."""
    app.command("serve")(serve_command)
