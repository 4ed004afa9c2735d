"""Which chip preset a measurement's `hardware` column names.

Publications name the same part many ways ("NVIDIA H100 80GB HBM3 (700 W max)", "NVIDIA
H100-SXM5-80GB", "H100 GPU"), and rows from sources not seen yet will name it in others. A
table of exact strings misses them, so a name is matched by rules on its lower-cased text:
the most specific part names first (GB200 before B200, GH200 before H200, H100 NVL and PCIe
before H100, A100 PCIe before A100), then the
form factor or memory where one family has several presets. A name no rule matches maps to
None, and the caller lists the row as unmapped with the name.

Exact strings whose meaning the rules cannot see (a custom thermal solution spelled out)
stay in EXACT, checked first.
"""

from __future__ import annotations

import re
from functools import lru_cache

EXACT = {
    # custom thermal solution: the same part at a 1000 W power limit
    "NVIDIA H200-SXM-141GB-CTS": "h200-sxm-cts",
    "NVIDIA H200-SXM-141GB-CTS (custom thermal solution, higher power)": "h200-sxm-cts",
}

# (pattern on the lower-cased name, preset id); first match wins, so specific names first
RULES: tuple[tuple[str, str], ...] = (
    (r"\bgb300\b", "gb300"),
    (r"\bgb200\b", "gb200"),
    (r"\bb300\b", "b300"),
    (r"\bb200\b", "b200"),
    # GH200 before H200/H100: "480GB" names the 96 GB HBM3 part (96 GB HBM3 + 480 GB LPDDR5X)
    (r"\bgh200\b.*\b(96|480) ?gb\b|\bgh200-96gb", "gh200-96gb"),
    (r"\bgh200\b|grace hopper", "gh200"),
    (r"\bh200\b.*\bcts\b", "h200-sxm-cts"),
    (r"\bh200\b.*\bnvl\b|\bh200-nvl", "h200-nvl"),
    (r"\bh200\b", "h200-sxm"),
    (r"\bh800\b", "h800"),
    (r"\bh20\b", "h20"),
    (r"\bh100\b.*\bnvl\b|\bh100-nvl", "h100-nvl"),
    (r"\bh100\b.*\bpcie\b|\bh100-pcie", "h100-pcie"),
    (r"\bh100\b", "h100-sxm"),
    (r"\ba100\b.*\bpcie\b|\ba100-pcie", "a100-pcie"),
    (r"\ba100\b.*\b40 ?gb\b|\ba100-sxm4?-40gb", "a100-sxm-40gb"),
    (r"\ba100\b", "a100-sxm-80gb"),
    (r"\bl40s\b", "l40s"),
    (r"\bmi355x\b", "mi355x"),
    (r"\bmi325x\b", "mi325x"),
    (r"\bmi300x\b", "mi300x"),
    (r"\bmi210\b", "mi210"),
    (r"\bgaudi[ -]?3\b", "gaudi-3"),
    (r"\bgaudi[ -]?2\b", "gaudi-2"),
    (r"\btpu[ -]?v5e\b|\bv5e\b|\bv5 ?lite", "tpu-v5e"),
    (r"\btpu[ -]?v5p\b|\bv5p\b", "tpu-v5p"),
    (r"\btpu[ -]?v6e\b|\btrillium\b|\bv6e\b", "tpu-v6e"),
    (r"\btpu[ -]?v7\b|\bironwood\b|\btpu7x\b", "tpu-v7"),
    (r"\btpu[ -]?v4\b", "tpu-v4"),
    (r"\btrainium[ -]?3\b|\btrn3\b", "trainium-3"),
    (r"\btrainium[ -]?2\b|\btrn2\b", "trainium-2"),
    (r"\bmaia[ -]?200\b", "maia-200"),
    (r"\bmaia[ -]?100\b", "maia-100"),
)

# parts with no preset: named so the unmapped reason says why rather than "unknown"
NO_PRESET: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=512)
def chip_for_hardware(name: str) -> str | None:
    """The chip preset id a `hardware` column names, or None when no preset matches."""
    if name in EXACT:
        return EXACT[name]
    text = name.lower()
    if any(re.search(pattern, text) for pattern, _ in NO_PRESET):
        return None
    for pattern, chip_id in RULES:
        if re.search(pattern, text):
            return chip_id
    return None


def known_chip(name: str) -> str:
    """The preset id of a name the caller has already checked maps (KeyError otherwise)."""
    chip_id = chip_for_hardware(name)
    if chip_id is None:
        raise KeyError(name)
    return chip_id


def unmapped_reason(name: str) -> str:
    """Why `name` maps to no preset, for the unmapped-rows list."""
    text = name.lower()
    for pattern, reason in NO_PRESET:
        if re.search(pattern, text):
            return reason
    return f"no chip preset for hardware {name[:60]!r}"
