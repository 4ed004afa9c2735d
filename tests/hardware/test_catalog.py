"""The preset catalog: every chip and system loads, and every number carries its source.

Rules checked here (DESIGN.md section 4, issue 2 item 4):
- each listed chip id loads, and its default system loads and names it back;
- every number-valued leaf of a chip/system YAML is covered by a `sources` key equal to its
  dotted path or a prefix of it (`links[0].num_links` is covered by `links[0]` or `links`),
  except the few unpublished figures listed in ASSUMPTIONS (flagged in notes);
- every source is an http(s) URL;
- systolic chips' derived dense bf16 peak matches the published figure within 1%;
- GPU peaks are dense (bf16 within 1% of the published dense figure, never the sparse one).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tigris.hardware import list_chip_ids, list_system_ids, load_chip, load_cluster
from tigris.io.loader import load_mapping

CATALOG = Path(__file__).parents[2] / "src" / "tigris" / "hardware" / "catalog"
# A copy of ../shared/data/hardware-specs.yaml (the team's sourced research dataset), shipped
# with the tests so that a fresh clone runs every check without the folder beside it.
SHARED_SPECS = Path(__file__).parents[1] / "data" / "hardware-specs.yaml"

CHIP_IDS = [
    "a100-sxm-80gb",
    "h100-sxm",
    "h100-pcie",
    "h200-sxm",
    "b200",
    "mi300x",
    "mi325x",
    "mi210",
    "tpu-v4",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "maia-100",
    "maia-200",
    "gaudi-3",
    "trainium-2",
    "cobalt-100",
    "tigris-1",
    "b300",
    "gb300",
    "h20",
    "mi355x",
    "gaudi-2",
    "gh200",
    "gh200-96gb",
    "h100-nvl",
    "a100-pcie",
]

# Published dense bf16 peaks of the systolic chips, in TFLOP/s.
PUBLISHED_SYSTOLIC_BF16 = {
    "tpu-v4": 275,  # https://docs.cloud.google.com/tpu/docs/v4
    "tpu-v5e": 197,  # https://docs.cloud.google.com/tpu/docs/v5e
    "tpu-v5p": 459,  # https://docs.cloud.google.com/tpu/docs/v5p
    "tpu-v6e": 918,  # https://docs.cloud.google.com/tpu/docs/v6e
    "gaudi-3": 1835,  # Intel Gaudi 3 whitepaper via https://www.sgpjbg.com/baogao/465025.html
    "gaudi-2": 432,  # Intel Gaudi 2 whitepaper via ml-engineering compute/accelerator/README.md
}

# Published dense (not 2:4-sparse) bf16 peaks of the GPUs, in TFLOP/s.
# Source: https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md
# (MI210: https://www.anandtech.com/show/17326/amd-releases-instinct-mi210-accelerator-cdna-2-on-a-pcie-card)
PUBLISHED_GPU_DENSE_BF16 = {
    "a100-sxm-80gb": 312,
    "h100-sxm": 989.4,
    "h100-pcie": 756,
    "h200-sxm": 989,
    "b200": 2250,
    "mi300x": 1307.4,
    "mi325x": 1307.4,
    "mi210": 181,
}

# Chip id -> entry id in ../shared/data/hardware-specs.yaml, for the cross-check.
SHARED_IDS = {
    "a100-sxm-80gb": "nvidia_a100_sxm4_80gb",
    "h100-sxm": "nvidia_h100_sxm5_80gb",
    "h100-pcie": "nvidia_h100_pcie_80gb",
    "h200-sxm": "nvidia_h200_sxm_141gb",
    "b200": "nvidia_b200_sxm",
    "mi300x": "amd_mi300x",
    "mi325x": "amd_mi325x",
}

# Figures needed to time anything but not published: each is an assumption, named as such
# (ASSUMPTION) in the file's notes with its derivation, and deliberately has no source.
ASSUMPTIONS = {
    ("chips", "cobalt-100", "memory.dram.bandwidth"),
}

SKIPPED_KEYS = {"sources", "notes", "calibration", "id", "name", "vendor", "kind"}
_QUANTITY = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*[A-Za-z/^0-9]*\s*$")


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_QUANTITY.match(value))


def _numeric_leaves(node: object, path: str = ""):
    """Dotted paths (list items as `links[0]`) of every number-valued leaf."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not path and key in SKIPPED_KEYS:
                continue
            yield from _numeric_leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _numeric_leaves(value, f"{path}[{index}]")
    elif _is_number(node):
        yield path


def _covered(path: str, sources: dict[str, str]) -> bool:
    return any(
        path == key or path.startswith(key + ".") or path.startswith(key + "[") for key in sources
    )


def _preset_files() -> list:
    return [
        pytest.param(kind, path, id=f"{kind}/{path.stem}")
        for kind in ("chips", "systems")
        for path in sorted((CATALOG / kind).glob("*.yaml"))
    ]


@pytest.mark.parametrize("chip_id", CHIP_IDS)
def test_chip_loads_and_names_its_system(chip_id):
    chip = load_chip(chip_id)
    assert chip.id == chip_id
    assert chip.default_system, f"{chip_id} names no default_system"
    cluster = load_cluster(chip.default_system)
    assert cluster.chip == chip_id
    assert chip.peak_flop_per_s(chip.supported_dtypes()[0]) > 0


def test_catalog_lists_exactly_the_chips():
    assert set(CHIP_IDS) <= set(list_chip_ids())


@pytest.mark.parametrize("system_id", list_system_ids())
def test_every_system_loads_and_its_chip_exists(system_id):
    cluster = load_cluster(system_id)
    assert cluster.id == system_id
    assert load_chip(cluster.chip).id == cluster.chip


@pytest.mark.parametrize(("kind", "path"), _preset_files())
def test_every_number_has_a_source(kind, path):
    data = load_mapping(path)
    sources = data.get("sources", {})
    missing = [
        leaf
        for leaf in _numeric_leaves(data)
        if not _covered(leaf, sources) and (kind, path.stem, leaf) not in ASSUMPTIONS
    ]
    assert not missing, f"{path.name}: numbers without a source: {missing}"


@pytest.mark.parametrize(("kind", "path"), _preset_files())
def test_sources_are_urls(kind, path):
    sources = load_mapping(path).get("sources", {})
    assert sources, f"{path.name} has no sources"
    for key, url in sources.items():
        assert isinstance(url, str) and re.match(r"^https?://\S+$", url), f"{key}: {url!r}"


def test_assumptions_are_flagged_and_still_unsourced():
    for kind, stem, leaf in ASSUMPTIONS:
        data = load_mapping(CATALOG / kind / f"{stem}.yaml")
        assert "ASSUMPTION" in data.get("notes", ""), f"{stem}: assumption not flagged"
        assert leaf in set(_numeric_leaves(data)), f"{stem}: {leaf} is gone"
        assert not _covered(leaf, data.get("sources", {})), f"{stem}: {leaf} has a source now"


@pytest.mark.parametrize("chip_id", CHIP_IDS)
def test_die_area_positive(chip_id):
    chip = load_chip(chip_id)
    assert chip.die_area is None or chip.die_area > 0
    assert chip.num_dies >= 1


@pytest.mark.parametrize("chip_id", [c for c in CHIP_IDS if load_chip(c).matrix.type == "systolic"])
def test_systolic_peak_matches_published(chip_id):
    chip = load_chip(chip_id)
    derived_tflops = chip.peak_flop_per_s("bf16") / 1e12
    if chip.reference_design:
        assert "design" in (chip.notes or "").lower()
        return
    published = PUBLISHED_SYSTOLIC_BF16[chip_id]
    assert derived_tflops == pytest.approx(published, rel=0.01)
    assert str(published) in (chip.notes or ""), "notes must state the published bf16 peak"


@pytest.mark.parametrize("chip_id", sorted(PUBLISHED_GPU_DENSE_BF16))
def test_gpu_peaks_are_dense(chip_id):
    chip = load_chip(chip_id)
    tflops = chip.peak_flop_per_s("bf16") / 1e12
    assert tflops == pytest.approx(PUBLISHED_GPU_DENSE_BF16[chip_id], rel=0.01)
    if "fp8" in chip.supported_dtypes():  # fp8 is twice bf16 on every GPU here, dense
        assert chip.peak_flop_per_s("fp8") == pytest.approx(
            2 * chip.peak_flop_per_s("bf16"), rel=0.01
        )


@pytest.mark.parametrize("chip_id", sorted(SHARED_IDS))
def test_gpu_peaks_match_shared_dense_figures(chip_id):
    specs = yaml.safe_load(SHARED_SPECS.read_text(encoding="utf-8"))
    entry = next(e for e in specs["chips"] if e["id"] == SHARED_IDS[chip_id])
    dense = entry["peak_dense_tflops"]["bf16"]
    sparse = entry.get("peak_sparse_tflops", {}).get("bf16")
    tflops = load_chip(chip_id).peak_flop_per_s("bf16") / 1e12
    assert tflops == pytest.approx(dense, rel=0.01)
    if sparse:
        assert tflops < 0.75 * sparse


def test_all_chip_peaks_are_below_any_sparse_headline():
    """No chip's bf16 peak equals a vendor's sparse headline (2x the dense figure)."""
    for chip_id, dense in PUBLISHED_GPU_DENSE_BF16.items():
        assert load_chip(chip_id).peak_flop_per_s("bf16") / 1e12 < 1.5 * dense
