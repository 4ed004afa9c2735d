"""Collectives on real topologies: NCCL's algorithms (ring, tree, NVLink SHARP) over a
cluster's tiers, and NCCL's choice among them by message size.

A `CommGroup` is `size` ranks whose global ranks are `stride` apart. Global ranks fill a
scale-up domain first (NVLink/NVSwitch node, TPU ICI torus, fully connected mesh), then the
next domain, so a tp group (stride 1) sits inside the domain and a dp group with a large
stride spans domains over the scale-out network (NICs per chip).

Algorithms (alpha-beta: latency + bytes / bandwidth, per tier), as NCCL's tuning model
(src/graph/tuning.cc, ncclTopoTuneModel / ncclTopoGetAlgoTime) prices them:
- ring (bandwidth-optimal): per chip the scale-up links carry 2 (l - 1) / l * M and the
  NIC 2 (n - 1) / n * M / l for a group of n ranks, l per domain (Patarasuk & Yuan 2009;
  one ring per rail). The tiers pipeline, so the slower tier sets the time. Latency: one
  hop per step, 2 (n - 1) steps for all_reduce, of which 2 d cross domains (NCCL's
  nInterSteps) at the scale-out hop latency, the rest at the scale-up one.
  all_gather / reduce_scatter are one pass ((n - 1) / n * M, n - 1 steps).
- tree (latency-optimal across nodes; all_reduce only): NCCL's double binary tree between
  domains and a chain inside each: 2 ((l - 1) scale-up + log2 d scale-out) hops, and every
  rank sends and receives 2 M (NCCL's algorithm bandwidth = bus bandwidth x 0.5).
- nvls (NVLink SHARP, all_reduce inside one scale-up domain whose switch reduces,
  ScaleUpDomain.in_network_reduction: NVSwitch gen3+ on H100/H200/B200/GB200, not A100):
  the switch reads every GPU's buffer once and reduces it (multimem.ld_reduce), then
  multicasts each reduced shard to every GPU (multimem.st), so each direction of a GPU's
  link carries (n + 1) / n * M, against the ring's 2 (n - 1) / n * M: nccl-tests bus bandwidth 2 (n - 1) / (n + 1) of the link rate
  at full efficiency. NVLS runs the Simple protocol only and has its own start-up
  (NVLS_BASE_LATENCY_S, NCCL 2.18's tuning table). Across domains (NVLSTree,
  IB SHARP) it is not modelled: such groups take ring or tree.
- all_to_all: M / n to every peer; a switch carries it at full rate, a torus over its
  average hop distance, a fully connected mesh one peer link per peer.
- p2p: one message over the link between two neighbours (the slowest tier they use).
- Torus (TPU ICI): each dimension the group spans runs its own bidirectional ring on that
  dimension's links (two links per chip with wraparound, one without), all at once.

Protocols (ring and tree): LL (half the bandwidth, one hop latency per step), LL128 (0.92
of the bandwidth, LL128_LATENCY_FACTOR times the hop latency) and Simple (all the
bandwidth, SIMPLE_LATENCY_FACTOR times the hop latency). NCCL's choice is the
(algorithm, protocol) of least predicted time among those enabled (NCCL_ALGO, NCCL_PROTO;
docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html#nccl-algo; github.com/NVIDIA/
nccl/issues/754: "the internal tuning model will switch from one to the other depending on
the number of nodes, number of GPUs per node, and size of the operation"):
`collective_choice`, with `algorithms` standing for NCCL_ALGO (NCCL_NVLS_ENABLE=0 is
algorithms=("ring", "tree")).

Fitted constants (`CollectiveConstants`: bus bandwidth achieved / link rate per tier and
for NVLS, the start-up of one collective, a factor on each tier's published hop latency) are read from data/collective_fit.json, which `python -m
tigris.validate.collective_fit --write` writes from the `collective` rows of measured.csv
(nccl-tests / all_reduce_bench sweeps on A100, H100, H200, B200) with the row ids it used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from math import ceil, log2

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p")
ALGORITHMS = ("ring", "tree", "nvls")
FIT_FILE = "collective_fit.json"


def sent_fraction(kind: str, group_size: int) -> float:
    """Bytes one rank sends per byte of message: a ring all-reduce sends 2 (n - 1) / n of
    it, an all-gather, reduce-scatter or all-to-all (n - 1) / n, a point-to-point send all
    of it (Thakur et al. 2005; NCCL's bus-bandwidth factors)."""
    if group_size <= 1:
        return 0.0
    share = (group_size - 1) / group_size
    return {"all_reduce": 2 * share, "p2p": 1.0}.get(kind, share)


# Hop latency of the Simple protocol relative to the link's (LL's) hop latency.
SIMPLE_LATENCY_FACTOR = 4.0
# LL128 (NCCL's default on NVLink from Volta on: 120 data bytes per 128-byte line with a
# flag, written by whole warps): NCCL's tuning model (src/graph/tuning.cc, NCCL 2.28.3)
# gives it 0.92 of the bus bandwidth ("120.0/128.0") and, on NVLink, a hop latency of
# 1.9 us against LL's 0.6 and Simple's 3.4; so between LL and Simple in both.
LL128_BANDWIDTH_FRACTION = 0.92
LL128_LATENCY_FACTOR = 1.9 / 0.6
# NVLS's own latency on top of the collective's start: NCCL 2.18's tuning table (src/graph/
# tuning.cc, baseLat of NVLS/Simple: 40 us). Published, not fitted: fitting it as well
# left the single-node small-message rows unable to tell NVLS from ring (held out worse).
NVLS_BASE_LATENCY_S = 40e-6
# NCCL's NVLS efficiency by NVLink generation (src/graph/tuning.cc, nvlsEfficiency, NCCL
# 2.28.3: Hopper 0.85, Blackwell 0.74; Volta and Ampere have no NVLS): the share of the
# link NCCL's tuning model expects NVLS to reach. Only the ratio is used (the fitted
# nvls_bus_efficiency is Hopper's): measured, H200's 8-GPU NVLS bus bandwidth is 0.69 of
# the 2 (n - 1) / (n + 1) bound and B200's 0.60 (ratio 0.87; NCCL's 0.74 / 0.85 = 0.87).
NVLS_EFFICIENCY = {4: 0.85, 5: 0.74}


@dataclass(frozen=True)
class CollectiveConstants:
    """The collective model's fitted constants (tigris.validate.collective_fit)."""

    scale_up_bus_efficiency: float  # bus bandwidth / scale-up link rate, large messages
    scale_out_bus_efficiency: float  # the same for the NIC (protocol, PCIe overhead)
    nvls_bus_efficiency: float  # NVLS: achieved / link rate of its (n + 1) / n * M
    collective_start_s: float  # kernel launch, channel setup, the first handshake
    scale_up_hop_factor: float = 1.0  # x the preset's scale-up hop latency
    scale_out_hop_factor: float = 1.0  # x the preset's scale-out hop latency

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@lru_cache(maxsize=1)
def fitted_constants() -> CollectiveConstants:
    """The constants in data/collective_fit.json (written by the fitter)."""
    text = (resources.files("tigris.parallel") / "data" / FIT_FILE).read_text()
    return CollectiveConstants(**json.loads(text)["constants"])


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


PROTOCOLS = (
    Protocol("LL", 0.5, 1.0),
    Protocol("LL128", LL128_BANDWIDTH_FRACTION, LL128_LATENCY_FACTOR),
    Protocol("Simple", 1.0, SIMPLE_LATENCY_FACTOR),
)


@dataclass(frozen=True)
class Tier:
    """One level a collective crosses: bandwidth per chip, one direction, and hop latency."""

    bandwidth_bytes_per_s: float
    latency_s: float


@dataclass(frozen=True)
class Choice:
    """The algorithm and protocol NCCL would run, and the collective's seconds."""

    algorithm: str  # ring | tree | nvls | direct (all_to_all, p2p)
    protocol: str
    time_s: float


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


def _torus_bandwidth(group: CommGroup, kind: str, total: float) -> float:
    scale_up = group.cluster.node.scale_up
    dims = scale_up.torus_dims or [scale_up.num_chips]
    link = total / (2 * len(dims))
    spans = _torus_spanned(dims, group.local_size, group.stride)
    if kind == "p2p":
        return link
    if kind == "all_to_all":
        hops = sum(extent / 4 if whole else extent / 3 for extent, whole in spans) or 1.0
        return sum(2 * link for _ in spans) / hops or link
    wrap = scale_up.wraparound
    return sum((2 * link if whole and wrap else link) for _, whole in spans) or link


def _scale_up_tier(group: CommGroup, kind: str, constants: CollectiveConstants) -> Tier:
    scale_up = group.cluster.node.scale_up
    total = scale_up.bandwidth_unidir or 0.0
    if scale_up.topology == "fully_connected" and scale_up.bandwidth_per_peer_unidir:
        # One link per peer: a ring uses one; RCCL runs a ring per link, so local - 1 of them.
        peers = 1 if kind == "p2p" else group.local_size - 1
        bandwidth = min(total, peers * scale_up.bandwidth_per_peer_unidir)
    elif scale_up.topology == "torus":
        bandwidth = _torus_bandwidth(group, kind, total)
    else:  # switch, ring: every chip drives all its links
        bandwidth = total
    return Tier(
        bandwidth * constants.scale_up_bus_efficiency,
        scale_up.latency * constants.scale_up_hop_factor,
    )


def _scale_out_tier(group: CommGroup, constants: CollectiveConstants) -> Tier:
    if not group.cluster.scale_out:
        raise InfeasibleError(
            f"{group.cluster.id} has no scale-out network: a group of {group.size} ranks "
            f"(stride {group.stride}) does not fit one scale-up domain of {group.domain_chips}"
        )
    tier = group.cluster.scale_out[0]
    bandwidth = tier.bandwidth_unidir_per_chip / tier.oversubscription
    return Tier(
        bandwidth * constants.scale_out_bus_efficiency,
        tier.latency * constants.scale_out_hop_factor,
    )


# ---------------------------------------------------------------------------- algorithms


def _ring(
    group: CommGroup,
    kind: str,
    message_bytes: float,
    protocol: Protocol,
    constants: CollectiveConstants,
) -> float:
    """Seconds of the ring: two passes for all_reduce, one for all_gather/reduce_scatter."""
    passes = 2 if kind == "all_reduce" else 1
    local, domains, size = group.local_size, group.num_domains, group.size
    bandwidth_s, hop_s = 0.0, 0.0
    if local > 1:
        up = _scale_up_tier(group, kind, constants)
        rate = up.bandwidth_bytes_per_s * protocol.bandwidth_fraction
        bandwidth_s = passes * (local - 1) / local * message_bytes / rate
        hop_s = up.latency_s
    if domains > 1:
        out = _scale_out_tier(group, constants)
        # NCCL's rings cross each node boundary once per ring, one ring per rail (NIC):
        # a NIC carries (n - 1) / n of the buffer over the `local` rails of the node.
        rate = out.bandwidth_bytes_per_s * protocol.bandwidth_fraction
        bandwidth_s = max(bandwidth_s, passes * (size - 1) / size * message_bytes / local / rate)
        hop_s = out.latency_s  # the NIC's hop, slower than any scale-up hop
    # the ranks step together, so every step waits on the slowest tier's hop (the NIC's)
    return bandwidth_s + passes * (size - 1) * hop_s * protocol.latency_factor


def _tree(
    group: CommGroup, message_bytes: float, protocol: Protocol, constants: CollectiveConstants
) -> float:
    """Seconds of NCCL's all_reduce tree: a chain inside each domain, a double binary tree
    between domains; each rank sends and receives 2 M (up the tree, then down)."""
    local, domains = group.local_size, group.num_domains
    bandwidth_s, hop_s = 0.0, 0.0
    if local > 1:
        up = _scale_up_tier(group, "all_reduce", constants)
        bandwidth_s = 2 * message_bytes / (up.bandwidth_bytes_per_s * protocol.bandwidth_fraction)
        hop_s = up.latency_s
    if domains > 1:
        out = _scale_out_tier(group, constants)
        rate = out.bandwidth_bytes_per_s * protocol.bandwidth_fraction
        bandwidth_s = max(bandwidth_s, 2 * message_bytes / local / rate)
        hop_s = out.latency_s  # the NIC's hop, slower than any scale-up hop
    steps = 2 * (local - 1) + 2 * ceil(log2(domains))  # up the chain and tree, then down
    return bandwidth_s + steps * hop_s * protocol.latency_factor


def nvls_supported(group: CommGroup) -> bool:
    """NVLS runs an all_reduce whose ranks all sit in one scale-up domain that reduces in
    its switch (NVLink SHARP is an NVLink-only offload: github.com/NVIDIA/nccl/issues/1031)."""
    scale_up = group.cluster.node.scale_up
    return scale_up.in_network_reduction and group.num_domains == 1 and group.local_size > 1


def nvls_generation_factor(scale_up_name: str) -> float:
    """NCCL's NVLS efficiency of the domain's NVLink generation relative to Hopper's
    (NVLS_EFFICIENCY; 1 where the name gives no generation NCCL lists)."""
    found = re.search(r"NVLink (\d+)", scale_up_name)
    efficiency = NVLS_EFFICIENCY.get(int(found.group(1))) if found else None
    return efficiency / NVLS_EFFICIENCY[4] if efficiency else 1.0


def _nvls(group: CommGroup, message_bytes: float, constants: CollectiveConstants) -> float:
    """Seconds of the NVLS all_reduce past the collective's start (module notes): the
    fitted efficiency is Hopper's, scaled to the generation by NCCL's own table."""
    n = group.size
    scale_up = group.cluster.node.scale_up
    efficiency = constants.nvls_bus_efficiency * nvls_generation_factor(scale_up.name)
    rate = (scale_up.bandwidth_unidir or 0.0) * efficiency
    return NVLS_BASE_LATENCY_S + (n + 1) / n * message_bytes / rate


def _all_to_all(group: CommGroup, message_bytes: float, constants: CollectiveConstants) -> float:
    local, size = group.local_size, group.size
    bandwidth_s, latency_s = 0.0, 0.0
    if local > 1:
        up = _scale_up_tier(group, "all_to_all", constants)
        scale_up = group.cluster.node.scale_up
        inside = (local - 1) / size * message_bytes
        bandwidth_s = inside / up.bandwidth_bytes_per_s
        if scale_up.topology == "fully_connected" and scale_up.bandwidth_per_peer_unidir:
            per_peer = scale_up.bandwidth_per_peer_unidir * constants.scale_up_bus_efficiency
            bandwidth_s = max(bandwidth_s, message_bytes / size / per_peer)
        latency_s += up.latency_s
    if group.num_domains > 1:
        out = _scale_out_tier(group, constants)
        outside = (size - local) / size * message_bytes
        bandwidth_s = max(bandwidth_s, outside / out.bandwidth_bytes_per_s)
        latency_s += out.latency_s
    return bandwidth_s + latency_s


def _p2p(group: CommGroup, message_bytes: float, constants: CollectiveConstants) -> float:
    if group.local_size > 1:
        tier = _scale_up_tier(group, "p2p", constants)
    else:
        tier = _scale_out_tier(group, constants)
    return tier.latency_s + message_bytes / tier.bandwidth_bytes_per_s


# ---------------------------------------------------------------------------- NCCL's choice


def _check_algorithms(algorithms: Iterable[str] | None) -> frozenset[str]:
    if algorithms is None:
        return frozenset(ALGORITHMS)
    chosen = frozenset(algorithms)
    unknown = sorted(chosen - set(ALGORITHMS))
    if unknown or not chosen:
        raise SpecError(
            f"unknown collective algorithm {unknown[0] if unknown else '(none)'!r}",
            key_path="algorithms",
            hint=", ".join(ALGORITHMS),
        )
    return chosen


def candidate_times(
    kind: str,
    message_bytes: float,
    group: CommGroup,
    algorithms: Iterable[str] | None = None,
    constants: CollectiveConstants | None = None,
) -> dict[tuple[str, str], float]:
    """Seconds past the start of each (algorithm, protocol) NCCL may run for this
    collective on this group (all_reduce: ring, tree, nvls where the switch reduces;
    all_gather / reduce_scatter: ring, which NCCL never disables for them), restricted to
    `algorithms` (NCCL_ALGO)."""
    c = constants or fitted_constants()
    allowed = _check_algorithms(algorithms)
    if kind != "all_reduce":
        return {("ring", p.name): _ring(group, kind, message_bytes, p, c) for p in PROTOCOLS}
    found: dict[tuple[str, str], float] = {}
    for protocol in PROTOCOLS:
        if "ring" in allowed:
            found["ring", protocol.name] = _ring(group, kind, message_bytes, protocol, c)
        if "tree" in allowed:
            found["tree", protocol.name] = _tree(group, message_bytes, protocol, c)
    if "nvls" in allowed and nvls_supported(group):
        found["nvls", "Simple"] = _nvls(group, message_bytes, c)
    if not found:
        raise SpecError(
            f"none of the algorithms {sorted(allowed)} runs all_reduce on {group.size} ranks "
            f"of {group.cluster.id}",
            key_path="algorithms",
        )
    return found


def collective_choice(
    kind: str,
    message_bytes: float,
    group: CommGroup,
    algorithms: Iterable[str] | None = None,
    constants: CollectiveConstants | None = None,
) -> Choice:
    """NCCL's choice for one collective: the (algorithm, protocol) of least time among
    `candidate_times`, plus the collective's start-up. See collective_time_s."""
    if kind not in KINDS:
        raise SpecError(f"unknown collective {kind!r}", key_path="kind", hint=", ".join(KINDS))
    if message_bytes < 0:
        raise SpecError(f"message_bytes must not be negative, got {message_bytes}")
    if group.size == 1 or message_bytes == 0:
        return Choice("none", "none", 0.0)
    c = constants or fitted_constants()
    if kind in ("p2p", "all_to_all"):
        run = _p2p if kind == "p2p" else _all_to_all
        return Choice("direct", "Simple", c.collective_start_s + run(group, message_bytes, c))
    times = candidate_times(kind, message_bytes, group, algorithms, c)
    (algorithm, protocol), best = min(times.items(), key=lambda item: item[1])
    return Choice(algorithm, protocol, c.collective_start_s + best)


def collective_time_s(
    kind: str,
    message_bytes: float,
    group: CommGroup,
    algorithms: Iterable[str] | None = None,
    constants: CollectiveConstants | None = None,
) -> float:
    """Seconds for one collective of `kind` over `group`, as NCCL would run it.

    `message_bytes` is the NCCL-style buffer per rank: the full buffer for all_reduce, the
    full output for all_gather, the full input for reduce_scatter, the total a rank sends
    for all_to_all, one message for p2p. A group of one rank costs nothing. `algorithms`
    restricts NCCL's choice (NCCL_ALGO); `constants` default to the fitted ones.
    """
    return collective_choice(kind, message_bytes, group, algorithms, constants).time_s


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
    faster is taken (engines switch to two-shot as the message grows), or NCCL's choice
    where that is faster still (large messages). Both move data at
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
    # large messages go to NCCL (vLLM's custom all-reduce takes inputs up to max_size,
    # 8 MiB by default; TensorRT-LLM's strategy AUTO switches to NCCL as they grow), whose
    # NVLS or ring beats a few copying thread blocks there
    return min(one_shot, two_shot, collective_time_s("all_reduce", message_bytes, group))
