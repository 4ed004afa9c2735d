"""Speed of the systolic simulator against SCALE-Sim 3.0.0, measured in the same run.

    .venv/bin/python bench/systolic_vs_scalesim.py [M N K] [--rows 128 --cols 128 --dataflow os]

Both tools simulate the same GEMM on the same array (SCALE-Sim: GEMM mode, CALC bandwidth,
traces off; its time is measured inside its own process, so interpreter start-up is not
counted against it). Prints both times, the ratio, and whether the cycle counts agree.
Needs the peer venv (see tests/golden/scalesim/make_golden.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import tempfile
import time
from pathlib import Path

from tigris.engines.systolic import SystolicConfig, simulate

REPO = Path(__file__).resolve().parents[1]
_GOLDEN_SCRIPT = REPO / "tests" / "golden" / "scalesim" / "make_golden.py"

_TIMED_DRIVER = """
import json, sys, time
from scalesim.scale_sim import scalesim
start = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1],
               topology=sys.argv[2], layout=sys.argv[3], input_type_gemm=True)
sim.run_scale(top_path=sys.argv[4])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _load_golden_module():
    spec = importlib.util.spec_from_file_location("make_golden", _GOLDEN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_scalesim(config: dict) -> tuple[float, int]:
    """(seconds SCALE-Sim took, its Total Cycles)."""
    golden = _load_golden_module()
    with tempfile.TemporaryDirectory(prefix="scalesim-bench-") as tmp:
        work = Path(tmp)
        out = subprocess.run(
            [str(golden.PEER_PYTHON), "-c", _TIMED_DRIVER, *golden.write_inputs(config, work)],
            check=True,
            cwd=work,
            capture_output=True,
            text=True,
        )
        seconds = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        report = golden._read_report(
            work / "out" / "golden" / "COMPUTE_REPORT.csv", golden._COMPUTE_COLUMNS
        )
    return seconds, report["total_cycles"]


def time_ours(m: int, n: int, k: int, config: SystolicConfig, repeats: int = 5, **kwargs):
    """(best seconds over `repeats`, result)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate(m, n, k, config, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", nargs="*", type=int, default=[512, 768, 768])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--cols", type=int, default=128)
    parser.add_argument("--dataflow", default="os")
    args = parser.parse_args()
    m, n, k = args.shape
    sram_kb = 512
    config = SystolicConfig(
        args.rows,
        args.cols,
        args.dataflow,
        ifmap_sram_bytes=sram_kb * 1024,
        filter_sram_bytes=sram_kb * 1024,
        ofmap_sram_bytes=sram_kb * 1024,
    )
    peer_config = {
        "M": m, "N": n, "K": k, "rows": args.rows, "cols": args.cols,
        "dataflow": args.dataflow, "ifmap_sram_kb": sram_kb, "filter_sram_kb": sram_kb,
        "ofmap_sram_kb": sram_kb,
    }  # fmt: skip
    peer_s, peer_cycles = time_scalesim(peer_config)
    ours_s, result = time_ours(m, n, k, config)
    verify_s, verified = time_ours(m, n, k, config, repeats=1, verify=True)
    print(f"GEMM {m}x{n}x{k} on {args.rows}x{args.cols} {args.dataflow.upper()}")
    print(f"  SCALE-Sim 3.0.0      {peer_s:10.3f} s   total cycles {peer_cycles}")
    print(f"  tigris (counts)      {ours_s:10.6f} s   total cycles {result.total_cycles}")
    print(f"  tigris (--verify)    {verify_s:10.3f} s   verified {verified.verified}")
    print(f"  cycles agree: {peer_cycles == result.total_cycles}")
    print(f"  speed-up, counts: {peer_s / ours_s:,.0f}x   with verify: {peer_s / verify_s:,.0f}x")


if __name__ == "__main__":
    main()
