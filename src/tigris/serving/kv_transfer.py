"""KV-cache transfer from a prefill pool to a decode pool (disaggregated serving).

- Bytes: the model's KV per token (every layer's K and V for all KV heads, in the KV
  dtype: tigris.serving.memory's figure for one unsharded chip) x the prompt's tokens.
- The path: the scale-up links (NVLink, ICI) when both pools are one chip kind in one
  scale-up domain (their chips together fit one node of the chip's system); otherwise the
  scale-out network (the first tier of each system: NIC bandwidth per chip, divided by the
  tier's oversubscription). Each chip of a replica holds its share of the KV heads and
  sends it over its own link, so a replica sends at per-chip bandwidth x its chips, and
  a decode replica receives at its per-chip bandwidth x its chips; a transfer runs at the
  lower of the two. Latency: the larger of the two sides' one-hop latency.
- Contention: the transfers of one prefill replica share its links: a FIFO queue in the
  order prefills complete (a transfer waits for the one before it). Receivers are not
  queued (a stated simplification: with equal pools the sender is the narrower side).
- Not layer-wise: a transfer starts when its prefill ends (Splitwise overlaps it with
  the prefill layer by layer; DistServe and vLLM's disaggregated prefill send it after).
  The whole transfer is therefore visible in the request's TTFT, an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tigris.errors import InfeasibleError
from tigris.serving.deployment import Deployment
from tigris.serving.memory import kv_bytes_per_token_per_chip


@dataclass(frozen=True)
class KvLink:
    """The path KV takes from one prefill replica to one decode replica."""

    name: str
    scale_up: bool  # both pools in one scale-up domain
    bandwidth_bytes_per_s: float  # one replica-to-replica transfer
    latency_s: float

    def to_dict(self) -> dict[str, object]:
        return {
            "link": self.name,
            "scale_up": self.scale_up,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "latency_s": self.latency_s,
        }


@dataclass(frozen=True)
class Transfers:
    """Per request: when its transfer started and when its KV landed (seconds), bytes."""

    start_s: np.ndarray
    end_s: np.ndarray
    bytes_: np.ndarray
    busy_s: float  # link time over all prefill replicas


def kv_bytes_per_token(deployment: Deployment) -> float:
    """The whole model's KV bytes per token (one chip holding every layer and head)."""
    whole = replace(deployment, num_chips=1, tp=1, pp=1, ep=1)
    return kv_bytes_per_token_per_chip(whole)


def _same_domain(prefill: Deployment, decode: Deployment) -> bool:
    system = prefill.system
    return (
        system is not None
        and decode.system is not None
        and system.id == decode.system.id
        and prefill.chip.id == decode.chip.id
        and system.node.scale_up.topology != "none"
        and prefill.num_chips + decode.num_chips <= system.scale_up_chips
    )


def _scale_out(deployment: Deployment, option: str) -> tuple[str, float, float]:
    """(name, per-chip bytes/s, latency) of the deployment's first scale-out tier."""
    system = deployment.system
    if system is None or not system.scale_out:
        raise InfeasibleError(
            f"{option}: {deployment.chip.id} names no scale-out network to move KV between "
            "pools (put both pools on one node, or pick a chip whose system has one)"
        )
    tier = system.scale_out[0]
    return tier.name, tier.bandwidth_unidir_per_chip / tier.oversubscription, tier.latency


def kv_link(prefill: Deployment, decode: Deployment, bandwidth_scale: float = 1.0) -> KvLink:
    """The path between the pools; `bandwidth_scale` scales its bandwidth (what-if)."""
    if _same_domain(prefill, decode):
        domain = prefill.system.node.scale_up  # type: ignore[union-attr]
        per_chip = float(domain.bandwidth_unidir)  # type: ignore[arg-type]
        send, receive = per_chip, per_chip
        name, latency = domain.name, domain.latency
        scale_up = True
    else:
        name, send, send_latency = _scale_out(prefill, "--prefill")
        decode_name, receive, receive_latency = _scale_out(decode, "--decode")
        if decode_name != name:
            name = f"{name} -> {decode_name}"
        latency = max(send_latency, receive_latency)
        scale_up = False
    bandwidth = min(send * prefill.chips_per_replica, receive * decode.chips_per_replica)
    return KvLink(name, scale_up, bandwidth * bandwidth_scale, latency)


def schedule_transfers(
    ready_s: np.ndarray, sender: np.ndarray, bytes_: np.ndarray, link: KvLink
) -> Transfers:
    """Each request's transfer, FIFO per sending replica in the order prefills end."""
    order = np.argsort(ready_s, kind="stable")
    wire_s = bytes_ / link.bandwidth_bytes_per_s
    start = np.empty_like(ready_s)
    free: dict[int, float] = {}
    for rid in order.tolist():
        replica = int(sender[rid])
        begin = max(float(ready_s[rid]), free.get(replica, 0.0))
        start[rid] = begin
        free[replica] = begin + float(wire_s[rid])
    end = start + wire_s + link.latency_s
    return Transfers(start, end, bytes_, float(wire_s.sum()))


def transfer_summary(transfers: Transfers, ready_s: np.ndarray, link: KvLink) -> dict[str, object]:
    """The kv_transfer block of the JSON output."""
    total = transfers.end_s - ready_s
    wait = transfers.start_s - ready_s
    return {
        **link.to_dict(),
        "layerwise": False,
        "bytes_total": float(transfers.bytes_.sum()),
        "bytes_per_request_mean": float(transfers.bytes_.mean()),
        "time_mean_s": float(total.mean()),
        "time_p50_s": float(np.percentile(total, 50)),
        "time_p99_s": float(np.percentile(total, 99)),
        "queue_wait_mean_s": float(wait.mean()),
        "queue_wait_p99_s": float(np.percentile(wait, 99)),
        "link_busy_s": transfers.busy_s,
    }
