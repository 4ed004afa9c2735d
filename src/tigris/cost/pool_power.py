"""Power of one pool of a disaggregated serving run (tigris.serving.disaggregated), from
the serving activity model as `tigris serve` counts it. It lives here, above the serving
package, and reaches the pool summary as the `power` argument of summarize_disaggregated."""

from __future__ import annotations

from tigris.cost.power import Activity
from tigris.cost.power_report import report_power
from tigris.cost.workload_activity import inference_activity
from tigris.serving.deployment import Deployment
from tigris.serving.simulator import SimulationResult


def pool_power(
    deployment: Deployment, result: SimulationResult, span_s: float, phase: str
) -> dict[str, object]:
    """Power per chip of a pool over the run's span, from the serving activity model
    (tigris.cost.workload_activity.inference_activity, as `tigris serve` counts it): its
    requests at their mean lengths in static batches of the pool's mean step batch; the
    prefill pool counts the prompts and their first token, the decode pool the full
    request's activity less that."""
    d, w = deployment, result.workload
    per_replica = max(1.0, w.num_requests / d.num_replicas)
    steps = max(1, result.num_steps)
    generated = w.num_requests if phase == "prefill" else float(w.output_len.sum())
    batch = int(min(per_replica, max(1.0, round(generated / d.num_replicas / steps))))
    mean_in = max(1, round(float(w.input_len.mean())))
    mean_out = max(1, round(float(w.output_len.mean())))
    prompt = inference_activity(d, batch, mean_in, 1, 1.0)
    whole = prompt if phase == "prefill" else inference_activity(d, batch, mean_in, mean_out, 1.0)
    scale = per_replica / batch
    activity = Activity(
        max(span_s, 1e-30),
        max(0.0, whole.flop - (phase == "decode") * prompt.flop) * scale,
        max(0.0, whole.dram_bytes - (phase == "decode") * prompt.dram_bytes) * scale,
        max(0.0, whole.link_bytes - (phase == "decode") * prompt.link_bytes) * scale,
        dtype=whole.dtype,
    )
    tokens = max(generated / d.num_replicas, 1e-30)
    chips = d.num_chips // d.num_replicas
    report = report_power(d.chip, activity, tokens=tokens, num_chips=chips)
    data = report.to_dict()
    return {
        "power_board_w": data["power_board_w"],
        "power_node_wall_w": data["power_node_wall_w"],
        "pool_power_node_wall_w": float(data["power_node_wall_w"]) * d.num_chips,  # type: ignore[arg-type]
        "energy_per_token_j": data["energy_per_token_j"],
        "power_breakdown_w": data["power_breakdown_w"],
    }
