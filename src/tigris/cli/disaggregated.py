"""`tigris serve --disaggregate`: the prefill/decode pools' run or layout search
(tigris.api.disaggregated), printed as JSON or as a table."""

from __future__ import annotations

import json
import sys

from tigris.errors import SpecError

# the user's view first, then each pool's headline figures
_TABLE_KEYS = ("num_requests", "duration_s", "throughput_tokens_per_s", "requests_per_s",
               "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "slo_attainment",
               "goodput_requests_per_s", "max_rate_meeting_slo", "power_node_wall_w_total")  # fmt: skip
_POOL_KEYS = ("chip", "num_chips", "tp", "num_replicas", "utilization", "kv_occupancy_max",
              "pool_power_node_wall_w")  # fmt: skip


def check_pool_options(disaggregate: bool, prefill: str | None, decode: str | None,
                       search: bool) -> None:  # fmt: skip
    """--prefill/--decode/--search go with --disaggregate, which needs both pools."""
    if not disaggregate:
        for option, value in (("--prefill", prefill), ("--decode", decode), ("--search", search)):
            if value:
                raise SpecError("needs --disaggregate", key_path=option)
        return
    for option, value in (("--prefill", prefill), ("--decode", decode)):
        if not value:
            raise SpecError(
                "--disaggregate needs both pools", key_path=option, hint="CHIP:COUNT[:tp=N,ep=N]"
            )


def run_disaggregated(as_json: bool, quiet: bool, **options: object) -> dict:
    """Run tigris.api.disaggregated.serve_disaggregated, print it; return its dict."""
    from tigris.api.disaggregated import serve_disaggregated
    from tigris.cli.progress import Progress

    label = "layouts searched" if options.get("search") else "requests through decode"
    with Progress(label, quiet=quiet) as bar:
        data = serve_disaggregated(progress=bar.update, **options)  # type: ignore[arg-type]
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")
    else:
        _print(data)
    return data


def _print(data: dict) -> None:
    from tigris.cli.serve import _table

    if "search" in data:
        found = data["search"]
        best = found["cheapest_meeting_slo"]  # type: ignore[index]
        rows = [(k, str(found[k])) for k in ("num_layouts", "num_feasible", "num_meeting_slo")]  # type: ignore[index]
        rows.append(("cheapest meeting SLO", json.dumps(best, default=float) if best else "none"))
        rows.append(("Pareto front size", str(len(found["pareto_front"]))))  # type: ignore[index]
        _table(f"serve --disaggregate --search: {data['model']}", rows)
        return
    rows = [(k, _fmt(data[k])) for k in _TABLE_KEYS if data.get(k) is not None]
    for name, pool in data["pools"].items():  # type: ignore[union-attr]
        rows += [(f"{name}.{k}", _fmt(pool[k])) for k in _POOL_KEYS]
    rows.append(("kv_transfer.time_p99_s", _fmt(data["kv_transfer"]["time_p99_s"])))  # type: ignore[index]
    _table(f"serve --disaggregate: {data['model']}", rows)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
