"""Make the SCALE-Sim 3.0.0 golden data that the systolic simulator is checked against.

Run from the repository root with any Python 3.11+:

    python3 -m venv .venv-scalesim
    .venv-scalesim/bin/pip install scalesim==3.0.0 'numpy<2.4'
    .venv/bin/python tests/golden/scalesim/make_golden.py

Each configuration is run in its own SCALE-Sim process (GEMM mode, CALC interface
bandwidth, no custom layout, no sparsity) and the numbers of COMPUTE_REPORT.csv and
DETAILED_ACCESS_REPORT.csv are written to golden.json beside this script. The set of
configurations is generated from a fixed seed, so re-running gives the same file.

SCALE-Sim quirks this script works around: it needs a layout file even when custom layouts
are off, and every GEMM topology row must end with a trailing comma (the last field is
dropped by its parser).
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PEER_PYTHON = REPO / ".venv-scalesim" / "bin" / "python"
GOLDEN_PATH = HERE / "golden.json"

_CONFIG_TEMPLATE = """[general]
run_name = golden

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow : {dataflow}
Bandwidth : 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

_DRIVER = """
import sys
from scalesim.scale_sim import scalesim
sim = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1],
               topology=sys.argv[2], layout=sys.argv[3], input_type_gemm=True)
sim.run_scale(top_path=sys.argv[4])
"""

# Report column -> golden key. Cycles are SCALE-Sim's; reads/writes are in words.
_COMPUTE_COLUMNS = {
    "Total Cycles (incl. prefetch)": "total_cycles_incl_prefetch",
    "Total Cycles": "total_cycles",
    "Stall Cycles": "stall_cycles",
    "Overall Util %": "overall_util_pct",
    "Mapping Efficiency %": "mapping_efficiency_pct",
    "Compute Util %": "compute_util_pct",
}
_DETAIL_COLUMNS = {
    "SRAM IFMAP Reads": "sram_reads_ifmap",
    "SRAM Filter Reads": "sram_reads_filter",
    "SRAM OFMAP Writes": "sram_writes_ofmap",
    "DRAM IFMAP Reads": "dram_reads_ifmap",
    "DRAM Filter Reads": "dram_reads_filter",
    "DRAM OFMAP Writes": "dram_writes_ofmap",
}


def generate_configs(seed: int = 3) -> list[dict]:
    """The generated configuration set: ragged shapes on arrays from 4x4 to 256x256."""
    rng = random.Random(seed)
    arrays = [(4, 4), (8, 8), (16, 16), (32, 32), (8, 32), (32, 8), (16, 64), (64, 64)]
    arrays += [(128, 32), (128, 128), (256, 256)]
    sram_kb = [(64, 64, 64), (256, 256, 128), (16, 16, 8), (1024, 1024, 256)]
    configs = []
    for dataflow in ("os", "ws", "is"):
        for rows, cols in arrays:
            for _ in range(2):
                # Shapes a few folds deep, mostly not multiples of the array.
                m = rng.randint(1, 3 * rows + rows // 2)
                n = rng.randint(1, 3 * cols + cols // 2)
                k = rng.randint(1, 3 * max(rows, cols))
                ifmap_kb, filter_kb, ofmap_kb = rng.choice(sram_kb)
                configs.append(
                    _config(m, n, k, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb)
                )
        # Decode-like GEMMs (one or a few tokens against a 1024x1024 weight).
        for m, rows, cols in (
            (1, 32, 32),
            (8, 32, 32),
            (1, 128, 128),
            (8, 128, 128),
            (8, 256, 256),
        ):
            configs.append(_config(m, 1024, 1024, rows, cols, dataflow, 512, 512, 256))
        # Exact multiples of the array, to pin the non-ragged case too.
        configs.append(_config(64, 48, 40, 16, 16, dataflow, 64, 64, 64))
    return configs


def _config(m, n, k, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb) -> dict:
    return {
        "M": m,
        "N": n,
        "K": k,
        "rows": rows,
        "cols": cols,
        "dataflow": dataflow,
        "ifmap_sram_kb": ifmap_kb,
        "filter_sram_kb": filter_kb,
        "ofmap_sram_kb": ofmap_kb,
    }


def write_inputs(config: dict, work: Path) -> list[str]:
    """SCALE-Sim's config, topology (a trailing comma on each GEMM row) and layout files for
    `config` in `work`, and its output folder: the arguments of the driver scripts."""
    (work / "scale.cfg").write_text(
        _CONFIG_TEMPLATE.format(
            rows=config["rows"],
            cols=config["cols"],
            dataflow=config["dataflow"],
            ifmap_kb=config["ifmap_sram_kb"],
            filter_kb=config["filter_sram_kb"],
            ofmap_kb=config["ofmap_sram_kb"],
        )
    )
    (work / "topo.csv").write_text(
        f"Layer, M, N, K,\ng0, {config['M']}, {config['N']}, {config['K']},\n"
    )
    (work / "layout.csv").write_text("Layer,\ng0,\n")  # needed even when unused
    return [str(work / name) for name in ("scale.cfg", "topo.csv", "layout.csv", "out")]


def run_peer(config: dict, peer_python: Path = PEER_PYTHON) -> dict:
    """Run SCALE-Sim once on `config` and return its report numbers."""
    with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [str(peer_python), "-c", _DRIVER, *write_inputs(config, work)],
            check=True,
            cwd=work,
            capture_output=True,
        )
        result = _read_report(work / "out" / "golden" / "COMPUTE_REPORT.csv", _COMPUTE_COLUMNS)
        result.update(
            _read_report(work / "out" / "golden" / "DETAILED_ACCESS_REPORT.csv", _DETAIL_COLUMNS)
        )
    return result


def _read_report(path: Path, columns: dict[str, str]) -> dict:
    with path.open() as handle:
        rows = list(csv.reader(handle))
    header = [name.strip() for name in rows[0]]
    values = [value.strip() for value in rows[1]]
    report = dict(zip(header, values, strict=False))
    out = {}
    for column, key in columns.items():
        number = float(report[column])
        out[key] = int(number) if key != "overall_util_pct" and "pct" not in key else number
    return out


def main() -> None:
    if not PEER_PYTHON.exists():
        sys.exit(f"SCALE-Sim venv not found at {PEER_PYTHON}; see this script's docstring")
    configs = generate_configs()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_peer, configs))
    records = [{"config": c, "scalesim": r} for c, r in zip(configs, results, strict=True)]
    GOLDEN_PATH.write_text(
        json.dumps({"peer": "scalesim==3.0.0 (GEMM, CALC)", "records": records}, indent=1) + "\n"
    )
    print(f"wrote {len(records)} records to {GOLDEN_PATH}")


if __name__ == "__main__":
    main()
