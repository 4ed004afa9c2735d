"""`tigris serve`: a thin wrapper over tigris.api.serve (`infer` lives in cli/train.py)."""

import json
import sys
from typing import Annotated

import typer

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
    input_len: Annotated[int, typer.Option("--input-len", help="Mean prompt tokens.")] = 512,
    output_len: Annotated[int, typer.Option("--output-len", help="Mean output tokens.")] = 128,
    length_dist: LengthDist = "fixed",
    trace: Trace = None,
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    compute_dtype: ComputeDtype = "bf16",
    chunked_prefill: ChunkedPrefill = False,
    token_budget: Annotated[int, typer.Option("--token-budget", help="Tokens per step.")] = 8192,
    max_num_seqs: Annotated[int, typer.Option("--max-num-seqs", help="Sequences per step.")] = 256,
    block_size: Annotated[int, typer.Option("--block-size", help="Tokens per KV block.")] = 16,
    slo_ttft: Annotated[float | None, typer.Option("--slo-ttft", help="TTFT SLO, seconds.")] = None,
    slo_tpot: Annotated[float | None, typer.Option("--slo-tpot", help="TPOT SLO, seconds.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed (>= 0).")] = 0,
    max_memory: MaxMemory = "2 GiB",
    max_time: MaxTime = "10 min",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    power_cap: Annotated[
        str | None,
        typer.Option("--power-cap", help="Per-chip power cap, e.g. '450 W' (MaxQ-style: slower)."),
    ] = None,
    disaggregate: Annotated[
        bool, typer.Option("--disaggregate", help="Separate prefill and decode pools.")
    ] = False,
    prefill: Annotated[
        str | None, typer.Option("--prefill", help="Prefill pool CHIP:COUNT[:tp=N,ep=N].")
    ] = None,
    decode: Annotated[
        str | None, typer.Option("--decode", help="Decode pool CHIP:COUNT[:tp=N,ep=N].")
    ] = None,
    search: Annotated[
        bool, typer.Option("--search", help="Search pool layouts up to those counts under the SLO.")
    ] = False,
    trace_format: TraceFormat = "auto",
    rate_scale: RateScale = None,
    duration: Duration = None,
    sample: Sample = None,
    engine: Engine = None,
    prefix_share: PrefixShare = 0.0,
    kv_offload_gb: KvOffload = 0.0,
    as_json: AsJson = False,
) -> None:
    """Simulate serving (continuous batching, paged KV cache) under an MLPerf scenario."""
    from tigris.api.serving import serve
    from tigris.cli.disaggregated import check_pool_options, run_disaggregated
    from tigris.cli.progress import Progress
    from tigris.serving.engines import ServingOptions

    check_pool_options(disaggregate, prefill, decode, search)
    if disaggregate:
        run_disaggregated(
            as_json, quiet, model=model, prefill=prefill, decode=decode, scenario=scenario,
            rate_per_s=rate, num_requests=num_requests, input_len=input_len,
            output_len=output_len, length_dist=length_dist, trace=trace,
            chunked_prefill=chunked_prefill, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot,
            seed=seed, max_memory=max_memory, search=search, weight_dtype=weight_dtype,
            kv_dtype=kv_dtype, compute_dtype=compute_dtype, token_budget=token_budget,
            max_num_seqs=max_num_seqs, block_size=block_size,
        )  # fmt: skip
        return

    with Progress("simulated requests", quiet=quiet) as bar:
        result = serve(
            model, chip=chip, num_chips=num_chips, scenario=scenario, tp=tp, pp=pp, ep=ep,
            rate_per_s=rate, num_requests=num_requests, input_len=input_len,
            output_len=output_len, length_dist=length_dist, trace=trace,
            weight_dtype=weight_dtype, kv_dtype=kv_dtype, compute_dtype=compute_dtype,
            chunked_prefill=chunked_prefill, token_budget=token_budget,
            max_num_seqs=max_num_seqs, block_size=block_size, slo_ttft_s=slo_ttft,
            slo_tpot_s=slo_tpot, seed=seed, max_memory=max_memory, max_time=max_time,
            progress=bar.update, power_cap=power_cap, options=ServingOptions(
                trace_format=trace_format, rate_scale=rate_scale, duration_s=duration,
                sample=sample, engine=engine, prefix_share=prefix_share,
                kv_offload_gb=kv_offload_gb, seed=seed),
        )  # fmt: skip
    data = result.to_dict()
    if as_json:
        _print_json(data)
        return
    rows = [
        (key, f"{value:.4g}" if isinstance(value, float) else str(value))
        for key, value in data.items()
        if key not in _JSON_ONLY and value is not None and not isinstance(value, dict)
    ]
    rows += [(f"  {name}", f"{watts:.4g}") for name, watts in data["power_breakdown_w"].items()]
    _table(f"serve {scenario}: {data['model']} on {num_chips} x {data['chip']}", rows)


# in --json only (the table keeps to the terminal's width)
_JSON_ONLY = {"kv_occupancy_over_time", "power_facility_w", "energy_per_token_board_j",
              "energy_per_token_facility_j", "energy_per_token_chip_j", "power_clock_ratio"}  # fmt: skip


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `serve` to the tigris app (`validate_app` kept for the common register signature)."""
    app.command("serve")(serve_command)
