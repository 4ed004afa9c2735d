"""WHAT the machine is: chips, nodes, clusters, and the preset catalog."""

from tigris.hardware.chip import Chip
from tigris.hardware.presets import list_chip_ids, list_system_ids, load_chip, load_cluster
from tigris.hardware.system import Cluster, Node

__all__ = [
    "Chip",
    "Cluster",
    "Node",
    "list_chip_ids",
    "list_system_ids",
    "load_chip",
    "load_cluster",
]
