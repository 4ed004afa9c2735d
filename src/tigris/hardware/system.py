"""Nodes and clusters: how chips are put together and talk to each other.

A Cluster is the default system of a chip: nodes of `chips_per_node` chips joined by a
scale-up domain (NVLink + NVSwitch, a TPU ICI torus, a fully connected mesh) and scale-out
tiers (InfiniBand/RoCE/Ethernet NICs per chip, or optical switches between TPU cubes).
"""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field, model_validator

from tigris.hardware.quantities import MAX_COUNT, Bandwidth, Count, Duration, Power, Spec


class ScaleUpDomain(Spec):
    """Chips that talk over the chip's own links, without NICs."""

    topology: Literal["switch", "torus", "fully_connected", "ring", "none"]
    name: str = Field(description="e.g. 'NVLink 4 + NVSwitch', 'ICI 3D torus'")
    num_chips: int = Field(gt=0, le=MAX_COUNT, description="chips in one scale-up domain")
    bandwidth_unidir: Bandwidth | None = Field(
        None, description="per chip, one direction (all links); required unless topology is none"
    )
    bandwidth_per_peer_unidir: Bandwidth | None = Field(
        None, description="fully connected: to any one peer, one direction"
    )
    latency: Duration = Field(2e-6, description="one hop, end to end")
    torus_dims: list[Count] | None = Field(None, description="torus extent per dimension")
    wraparound: bool = True
    in_network_reduction: bool = Field(
        False,
        description=(
            "the switch reduces in the fabric (NVLink SHARP on NVSwitch gen3 and later: "
            "H100/H200/B200/GB200 boards), so NCCL can run its NVLS all-reduce"
        ),
    )

    @model_validator(mode="after")
    def _torus_consistent(self) -> ScaleUpDomain:
        if self.topology != "none" and self.bandwidth_unidir is None:
            raise ValueError(f"a {self.topology} scale-up domain needs bandwidth_unidir")
        if self.topology == "torus":
            if not self.torus_dims:
                raise ValueError("a torus needs torus_dims, e.g. [16, 16, 16]")
            if prod(self.torus_dims) != self.num_chips:
                raise ValueError(
                    f"torus_dims {self.torus_dims} hold {prod(self.torus_dims)} chips, "
                    f"not num_chips {self.num_chips}"
                )
        return self


class ScaleOutTier(Spec):
    """A network tier above the scale-up domain."""

    name: str = Field(description="e.g. 'InfiniBand NDR 400 Gb/s, rail-optimised fat tree'")
    topology: Literal[
        "fat_tree", "rail_optimized", "torus", "dragonfly", "optical_switch", "ethernet_clos"
    ]
    bandwidth_unidir_per_chip: Bandwidth = Field(
        description="NIC bandwidth per chip, one direction"
    )
    latency: Duration = Field(5e-6)
    oversubscription: float = Field(1.0, ge=1.0)
    max_chips: int | None = Field(
        None, gt=0, le=MAX_COUNT, description="largest published deployment"
    )


class Node(Spec):
    chips_per_node: int = Field(gt=0, le=MAX_COUNT)
    scale_up: ScaleUpDomain
    host: str | None = Field(None, description="host CPUs")
    power: Power | None = Field(None, description="whole node at full load")


class Cluster(Spec):
    """A chip's system as published: node, scale-up domain and scale-out network."""

    id: str
    name: str
    chip: str = Field(description="catalog id of the chip")
    node: Node
    scale_out: list[ScaleOutTier] = Field(default_factory=list)
    max_chips: int | None = Field(None, gt=0, le=MAX_COUNT)
    sources: dict[str, str] = Field(default_factory=dict)
    notes: str | None = None

    @property
    def scale_up_chips(self) -> int:
        return self.node.scale_up.num_chips
