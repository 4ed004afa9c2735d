"""Collectives on real topologies: ring, tree and hierarchical algorithms over a cluster's tiers.

A `CommGroup` is `size` ranks whose global ranks are `stride` apart. Global ranks fill a
scale-up domain first (NVLink/NVSwitch node, TPU ICI torus, fully connected mesh), then the
next domain, so a tp group (stride 1) sits inside the domain and a dp group with a large
stride spans domains over the scale-out network (NICs per chip).

Model (alpha-beta, per tier):
- A group has `local` members per scale-up domain and spans `num_domains` domains.
- all_reduce is hierarchical: reduce-scatter inside the domain, all-reduce of the 1/local
  shard across domains, all-gather inside the domain. Per chip the scale-up links carry
  2 (l - 1) / l * M and the NIC 2 (d - 1) / d * M / l (Patarasuk & Yuan 2009 for the ring;
  NCCL's rings over rails give the same NIC load). The tiers pipeline (NCCL moves chunks
  through both at once), so the bandwidth time is the slower tier's.
- all_gather / reduce_scatter: half the all-reduce traffic ((n - 1) / n * M).
- all_to_all: M / n to every peer; a switch carries it at full rate, a torus over its
  average hop distance, a fully connected mesh one peer link per peer.
- p2p: one message over the link between two neighbours (the slowest tier they use).
- Latency: one hop latency per ring step; across domains the all-reduce takes the double
  binary tree's 2 log2(d) steps when fewer than the ring's 2 (d - 1) (NCCL picks the tree
  at scale).
- Torus (TPU ICI): each dimension the group spans runs its own bidirectional ring on that
  dimension's links (two links per chip with wraparound, one without), all at once.

Efficiencies (bus bandwidth achieved / link rate) stand for the protocol's overhead: packet
headers and flags on NVLink/ICI, and the NIC's protocol and PCIe overhead across nodes.
Together with a fixed start-up time per collective (kernel launch and the handshake that
starts a ring) they are fitted on the `collective` rows of measured.csv only
(nccl-tests / all_reduce_bench busbw sweeps on A100, H100, H200, B200; `tigris validate
collectives`). NVLink SHARP (NVLS, in-switch reduction) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log2

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p")


def sent_fraction(kind: str, group_size: int) -> float:
    """Bytes one rank sends per byte of message: a ring all-reduce sends 2 (n - 1) / n of
    it, an all-gather, reduce-scatter or all-to-all (n - 1) / n, a point-to-point send all
    of it (Thakur et al. 2005; NCCL's bus-bandwidth factors)."""
    if group_size <= 1:
        return 0.0
    share = (group_size - 1) / group_size
    return {"all_reduce": 2 * share, "p2p": 1.0}.get(kind, share)


# Bus bandwidth achieved / link rate for large messages (fitted on the collective rows).
SCALE_UP_BUS_EFFICIENCY = 0.80
SCALE_OUT_BUS_EFFICIENCY = 0.95
# Start-up of one collective: kernel launch, channel setup, the first handshake.
COLLECTIVE_START_S = 5e-6
# Hop latency of the Simple protocol relative to the link's (LL's) hop latency.
SIMPLE_LATENCY_FACTOR = 4.0


@dataclass(frozen=True)
class CommGroup:
    """`size` ranks whose global ranks are `stride` apart, on `cluster` of `chip`s."""

    cluster: Cluster
    chip: Chip
    size: int
    stride: int = 1

    def __post_init__(self) -> None:
        if self.size < 1:
            raise SpecError(f"group size must be at least 1, got {self.size}", key_path="size")
        if self.stride < 1:
            raise SpecError(f"stride must be at least 1, got {self.stride}", key_path="stride")

    @property
    def domain_chips(self) -> int:
        """Chips of one scale-up domain (1 when the system has none)."""
        scale_up = self.cluster.node.scale_up
        return 1 if scale_up.topology == "none" else scale_up.num_chips

    @property
    def local_size(self) -> int:
        """Members of the group inside one scale-up domain."""
        if self.stride >= self.domain_chips:
            return 1
        return max(1, min(self.size, self.domain_chips // self.stride))

    @property
    def num_domains(self) -> int:
        """Scale-up domains the group spans."""
        return ceil(self.size / self.local_size)


@dataclass(frozen=True)
class Protocol:
    """How NCCL moves data: LL packs a flag with every 4 bytes (half the bandwidth, one
    hop latency per step); Simple sends whole chunks (all the bandwidth, but each step
    waits for a chunk and a fence: a longer hop). NCCL picks the faster per size."""

    name: str
    bandwidth_fraction: float
    latency_factor: float


PROTOCOLS = (Protocol("LL", 0.5, 1.0), Protocol("Simple", 1.0, SIMPLE_LATENCY_FACTOR))


@dataclass(frozen=True)
class Tier:
    """One level a collective crosses: bandwidth per chip, one direction, and hop latency."""

    bandwidth_bytes_per_s: float
    latency_s: float


# ---------------------------------------------------------------------------- tiers


def _torus_spanned(dims: list[int], local: int, stride: int) -> list[tuple[int, bool]]:
    """(extent used, whole dimension?) for each torus dimension the members occupy.

    Ranks are laid out row-major with dimension 0 fastest; members are ranks 0, stride, ...
    """
    spans = []
    block = 1
    last = (local - 1) * stride
    for extent in dims:
        coords = {(i * stride // block) % extent for i in range(local)} if local > 1 else {0}
        if len(coords) > 1:
            spans.append((len(coords), len(coords) == extent))
        block *= extent
        if block > last:
            break
    return spans


def _scale_up_tier(group: CommGroup, kind: str) -> Tier:
    scale_up = group.cluster.node.scale_up
    total = scale_up.bandwidth_unidir or 0.0
    local = group.local_size
    latency = scale_up.latency
    if scale_up.topology == "fully_connected" and scale_up.bandwidth_per_peer_unidir:
        # One link per peer: a ring uses one; RCCL runs a ring per link, so local - 1 of them.
        peers = 1 if kind == "p2p" else local - 1
        bandwidth = min(total, peers * scale_up.bandwidth_per_peer_unidir)
    elif scale_up.topology == "torus":
        dims = scale_up.torus_dims or [scale_up.num_chips]
        link = total / (2 * len(dims))
        spans = _torus_spanned(dims, local, group.stride)
        if kind == "p2p":
            bandwidth = link
        elif kind == "all_to_all":
            hops = sum(extent / 4 if whole else extent / 3 for extent, whole in spans) or 1.0
            bandwidth = sum(2 * link for _ in spans) / hops
        else:
            bandwidth = sum(
                (2 * link if whole and scale_up.wraparound else link) for _, whole in spans
            )
        bandwidth = bandwidth or link
    else:  # switch, ring: every chip drives all its links
        bandwidth = total
    return Tier(bandwidth * SCALE_UP_BUS_EFFICIENCY, latency)


def _scale_out_tier(group: CommGroup) -> Tier:
    if not group.cluster.scale_out:
        raise InfeasibleError(
            f"{group.cluster.id} has no scale-out network: a group of {group.size} ranks "
            f"(stride {group.stride}) does not fit one scale-up domain of {group.domain_chips}"
        )
    tier = group.cluster.scale_out[0]
    bandwidth = tier.bandwidth_unidir_per_chip / tier.oversubscription
    return Tier(bandwidth * SCALE_OUT_BUS_EFFICIENCY, tier.latency)


# ---------------------------------------------------------------------------- algorithms


def _ring_pair(
    group: CommGroup, kind: str, message_bytes: float, passes: int, protocol: Protocol
) -> float:
    """Seconds of `passes` ring passes (1: reduce-scatter or all-gather, 2: all-reduce)."""
    local, domains, size = group.local_size, group.num_domains, group.size
    bandwidth_s, hop_s = 0.0, 0.0
    if local > 1:
        up = _scale_up_tier(group, kind)
        rate = up.bandwidth_bytes_per_s * protocol.bandwidth_fraction
        bandwidth_s = passes * (local - 1) / local * message_bytes / rate
        hop_s = up.latency_s
    steps = passes * (size - 1)
    if domains > 1:
        out = _scale_out_tier(group)
        # NCCL's rings cross each node boundary once per ring, one ring per rail (NIC):
        # a NIC carries (n - 1) / n of the buffer over the `local` rails of the node.
        rate = out.bandwidth_bytes_per_s * protocol.bandwidth_fraction
        bandwidth_s = max(bandwidth_s, passes * (size - 1) / size * message_bytes / local / rate)
        hop_s = max(hop_s, out.latency_s)
        if passes == 2:  # the double binary tree, when its 2 log2 steps are fewer
            steps = min(steps, 2 * (local - 1) + 2 * ceil(log2(domains)))
    return bandwidth_s + steps * hop_s * protocol.latency_factor


def _all_to_all(group: CommGroup, message_bytes: float) -> float:
    local, size = group.local_size, group.size
    bandwidth_s, latency_s = 0.0, 0.0
    if local > 1:
        up = _scale_up_tier(group, "all_to_all")
        scale_up = group.cluster.node.scale_up
        inside = (local - 1) / size * message_bytes
        if scale_up.topology == "fully_connected" and scale_up.bandwidth_per_peer_unidir:
            per_peer = scale_up.bandwidth_per_peer_unidir * SCALE_UP_BUS_EFFICIENCY
            bandwidth_s = max(inside / up.bandwidth_bytes_per_s, message_bytes / size / per_peer)
        else:
            bandwidth_s = inside / up.bandwidth_bytes_per_s
        latency_s += up.latency_s
    if group.num_domains > 1:
        out = _scale_out_tier(group)
        outside = (size - local) / size * message_bytes
        bandwidth_s = max(bandwidth_s, outside / out.bandwidth_bytes_per_s)
        latency_s += out.latency_s
    return bandwidth_s + latency_s


def _p2p(group: CommGroup, message_bytes: float) -> float:
    tier = _scale_up_tier(group, "p2p") if group.local_size > 1 else _scale_out_tier(group)
    return tier.latency_s + message_bytes / tier.bandwidth_bytes_per_s


def collective_time_s(kind: str, message_bytes: float, group: CommGroup) -> float:
    """Seconds for one collective of `kind` over `group`.

    `message_bytes` is the NCCL-style buffer per rank: the full buffer for all_reduce, the
    full output for all_gather, the full input for reduce_scatter, the total a rank sends
    for all_to_all, one message for p2p. A group of one rank costs nothing.
    """
    if kind not in KINDS:
        raise SpecError(f"unknown collective {kind!r}", key_path="kind", hint=", ".join(KINDS))
    if message_bytes < 0:
        raise SpecError(f"message_bytes must not be negative, got {message_bytes}")
    if group.size == 1 or message_bytes == 0:
        return 0.0
    if kind == "p2p":
        return COLLECTIVE_START_S + _p2p(group, message_bytes)
    if kind == "all_to_all":
        return COLLECTIVE_START_S + _all_to_all(group, message_bytes)
    passes = 2 if kind == "all_reduce" else 1
    return COLLECTIVE_START_S + min(
        _ring_pair(group, kind, message_bytes, passes, protocol) for protocol in PROTOCOLS
    )


def bus_bandwidth_bytes_per_s(kind: str, message_bytes: float, group: CommGroup) -> float:
    """nccl-tests' bus bandwidth: algorithm bandwidth (bytes / time) times 2 (n - 1) / n for
    all_reduce, (n - 1) / n for all_gather, reduce_scatter and all_to_all, 1 for p2p."""
    time_s = collective_time_s(kind, message_bytes, group)
    n = group.size
    factor = {"all_reduce": 2 * (n - 1) / n, "p2p": 1.0}.get(kind, (n - 1) / n)
    return message_bytes / time_s * factor if time_s > 0 else float("inf")


# ---------------------------------------------------------------------------- inference all-reduce

# Start of a CUDA-graph-captured custom all-reduce kernel and its flag barrier between peers,
# before the first hop (launch inside a graph: no host cost).
CUSTOM_ALL_REDUCE_START_S = 3e-6
# Share of the scale-up link rate the custom kernels reach (a few thread blocks per GPU
# copying through peer pointers, not NCCL's tuned channels).
CUSTOM_ALL_REDUCE_LINK_EFFICIENCY = 0.55


def custom_all_reduce_time_s(message_bytes: float, group: CommGroup) -> float:
    """Seconds for one all-reduce by an inference engine's custom kernel (TensorRT-LLM's
    customAllReduce, vLLM's custom_all_reduce), inside one NVLink/NVSwitch domain.

    One-shot: each rank reads the (n - 1) peers' buffers through peer memory and reduces
    locally: one hop and a barrier, (n - 1) M read per rank. Two-shot: reduce-scatter then
    all-gather through peer memory: two hops and barriers, 2 (n - 1) / n M per rank. The
    faster is taken (engines switch to two-shot as the message grows). Both move data at
    CUSTOM_ALL_REDUCE_LINK_EFFICIENCY of the link rate, read off sglang PR #2904's H100 tp 8
    table (github.com/sgl-project/sglang/pull/2904: 5.9 us at 512 B, 16.7 us at 256 KiB,
    33.8 us at 1 MiB). A group that leaves the scale-up domain, or a system without
    one, falls back to NCCL (collective_time_s).
    """
    if message_bytes < 0:
        raise SpecError(f"message_bytes must not be negative, got {message_bytes}")
    if group.size == 1 or message_bytes == 0:
        return 0.0
    scale_up = group.cluster.node.scale_up
    if group.num_domains > 1 or scale_up.topology not in ("switch", "fully_connected"):
        return collective_time_s("all_reduce", message_bytes, group)
    n = group.size
    if scale_up.topology == "fully_connected" and scale_up.bandwidth_per_peer_unidir:
        rate = min(scale_up.bandwidth_unidir or 0.0, (n - 1) * scale_up.bandwidth_per_peer_unidir)
    else:
        rate = scale_up.bandwidth_unidir or 0.0
    rate *= CUSTOM_ALL_REDUCE_LINK_EFFICIENCY
    hop = CUSTOM_ALL_REDUCE_START_S + scale_up.latency
    one_shot = hop + (n - 1) * message_bytes / rate
    two_shot = 2 * hop + 2 * (n - 1) / n * message_bytes / rate
    return min(one_shot, two_shot)
