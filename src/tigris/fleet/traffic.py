"""A service whose traffic is a trace (`traffic: {trace: azure-conv}`): its requests' own
lengths and arrival pattern in the candidate evaluation and the peak re-check.

- The window: the trace's first `settings.num_requests` requests whose prompt and output
  fit the model's context window, in arrival order (a contiguous window keeps the bursts
  within it; requests too long for the model are left out: the Azure 2023 conversation
  trace has one of 14,089 tokens, beyond Llama 3's 8,192).
- Replay at a rate r (`replay`): the window's gaps scaled so that its mean rate is r,
  i.e. the trace's arrivals played faster or slower, their burstiness kept (the coefficient
  of variation of the gaps is that of the trace at every rate; the Azure 2023 code trace's
  is 13 over the hour, against 1 for Poisson arrivals).
- The rate search of a candidate is the serving simulator's (tigris.serving.scenario
  run_server) with the replay in place of Poisson arrivals; the re-check replays the window
  at a replica's share of the peak.
- The daily profile and growth scale the trace's mean rate (or `rate`, when given) as for
  any service (tigris.fleet.plan.peak_and_mean).

The shipped traces are named as `tigris serve --trace` names them (azure-code, azure-conv);
any other trace is a file, relative to the demand file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigris.errors import SpecError

if TYPE_CHECKING:
    from tigris.fleet.demand import Service, Settings
    from tigris.serving.requests import Workload


def read_service_trace(service: Service) -> Workload:
    """The whole trace of a service (SpecError naming the file for a bad one)."""
    from tigris.serving.trace import read_trace, resolve_trace

    return read_trace(resolve_trace(service.traffic.trace))  # type: ignore[arg-type]


def trace_window(service: Service, settings: Settings) -> Workload:
    """The requests simulated: the first `num_requests` that fit the model's context."""
    from tigris.api.inputs import resolve_model

    trace = read_service_trace(service)
    context = resolve_model(service.model).max_position_embeddings
    fits = (trace.input_len + trace.output_len <= context).nonzero()[0]
    window = trace.subset(fits[: settings.num_requests])
    if window.num_requests < 2 or window.arrival_s[-1] <= window.arrival_s[0]:
        raise SpecError(
            f"the trace {service.traffic.trace} has fewer than two requests that fit "
            f"{service.model}'s context of {context} tokens at distinct times",
            key_path=f"services[{service.name}].traffic.trace",
        )
    return window


def replay(window: Workload, rate_per_s: float, seed: int = 0) -> Workload:
    """The window's arrivals with their gaps scaled to a mean rate of `rate_per_s` (the
    seed is unused: the trace is the arrival process; the signature is run_server's)."""
    start = window.arrival_s[0]
    own_rate = (window.num_requests - 1) / float(window.arrival_s[-1] - start)
    return window.with_arrivals((window.arrival_s - start) * (own_rate / rate_per_s))


def trace_mean_rate(service: Service) -> float:
    """Requests/s of the whole trace: its requests over its span."""
    trace = read_service_trace(service)
    span = float(trace.arrival_s[-1] - trace.arrival_s[0]) or 1.0
    return trace.num_requests / span
