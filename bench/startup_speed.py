"""What a user waits for, against llm-analysis measured in the same run (bench/peers.py):

- whole commands: `tigris --help`, a one-chip `tigris gemm` (target < 0.3 s each),
  `tigris train` (one fixed plan) and `tigris infer` against llm-analysis's CLI
  (`python -m llm_analysis.analysis train|infer ...`) doing the same estimate;
- one training plan and one inference estimate, cold (the first call in a fresh process,
  after the imports, the specs already loaded as llm-analysis loads its configs at import)
  and warm (the same call repeated);
- the GPT-3 175B / 1,024 H100 plan search, first in a fresh process (target < 0.5 s).

Every figure is a median, of wall time and of CPU time (user + system, of the process or
the command's children): on a shared, loaded machine the wall time also counts the waits for
a core, the CPU time hardly. Timings drift from minute to minute, hence the ratios to the
peer taken in the same run (above 1: Tigris is faster).

Tigris runs as an installed copy does after its first command: with its bytecode (pip
compiles it at install; here, from the source tree, into a private folder, since a session
may set PYTHONDONTWRITEBYTECODE, which would time Python compiling every module on every
command) and with its presets in the spec cache (tigris.io.spec_cache), both filled by an
untimed first run of each command. The peer runs from its venv, whose bytecode pip wrote.
`--cold-start` times the first runs instead: no bytecode, no spec cache.

    .venv/bin/python bench/startup_speed.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import REPO, peer_python  # noqa: E402

# The `tigris` script a user runs (beside this interpreter), else `python -m tigris`.
_SCRIPT = Path(sys.executable).with_name("tigris")
TIGRIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tigris"]
# Where Tigris's bytecode is written for the bench (not in the shared source tree).
BYTECODE_DIR = Path(tempfile.gettempdir()) / "tigris-bench-bytecode"


def tigris_env(cold_start: bool = False) -> dict[str, str]:
    """The environment Tigris's processes run in: bytecode kept in BYTECODE_DIR and the
    user's spec cache, or with `cold_start` neither (a fresh spec cache, no bytecode)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if cold_start:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["TIGRIS_NO_CACHE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(BYTECODE_DIR)
    return env


GPT3_TRAIN = ["gpt3-175b", "--chip", "h100-sxm", "--num-chips", "1024"]
GPT3_TRAIN += ["--global-batch", "1536", "--seq-len", "2048"]
GEMM_CLI = [*TIGRIS, "gemm", "8192", "8192", "8192", "--chip", "h100-sxm", "--dtype", "bf16"]
GPT3_PLAN = ["--tp", "8", "--pp", "8", "--dp", "16", "--micro-batch", "1"]
GPT3_PLAN += ["--recompute", "selective", "--zero", "0", "--sequence-parallel"]
INFER_70B = ["llama3-70b", "--chip", "h100-sxm", "--num-chips", "8", "--batch", "16"]
INFER_70B += ["--input-len", "1024", "--output-len", "256"]

# The same estimates in llm-analysis's words: GPT-3 175B (its megatron-lm-175b) on 1,024
# H100, tp 8 x pp 8, selective recomputation; Llama-2-70B (its nearest to Llama-3-70B) on
# 8 H100 (tp 8), 16 prompts of 1,024 tokens generating 256.
PEER_TRAIN = dict(
    model_name="megatron-lm-175b", gpu_name="h100-sxm-80gb", dtype_name="w16a16e16",
    log_level="CRITICAL", global_batch_size=1536, seq_len=2048, total_num_gpus=1024,
    tp_size=8, pp_size=8, activation_recomputation=1, flash_attn=True,
)  # fmt: skip
PEER_INFER = dict(
    model_name="upstage_Llama-2-70b-instruct-v2", gpu_name="h100-sxm-80gb",
    dtype_name="w16a16e16", log_level="CRITICAL", batch_size_per_gpu=16, tp_size=8,
    seq_len=1024, num_tokens_to_generate=256,
)  # fmt: skip

# One call timed in a fresh interpreter: {setup} runs first (imports, specs), then {call}
# once (cold) and {warm_calls} more times (warm); prints the wall and CPU seconds:
# [[cold, warm median], [cold, warm median]].
CALL_SCRIPT = """
import json, logging, statistics, time
logging.disable(logging.CRITICAL)
{setup}
def call():
    {call}
def timed():
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu
cold = timed()
warm = [timed() for _ in range({warm_calls})]
print(json.dumps([[cold[i], statistics.median(w[i] for w in warm)] for i in (0, 1)]))
"""

TIGRIS_SETUP = """
import tigris.api as api
from tigris.api import training, inference  # the modules a call runs, imported
from tigris.engines.base import get_engine
from tigris.hardware.presets import load_chip, load_cluster
from tigris.workload import load_model
import tigris.parallel.search, tigris.serving.static_batch, tigris.serving.deployment
import tigris.cost.power_report  # every train/infer result reports its power
get_engine("tile")
chip, cluster = load_chip("h100-sxm"), load_cluster("dgx-h100")
gpt3, llama70 = load_model("gpt3-175b"), load_model("llama3-70b")
"""
TIGRIS_TRAIN_PLAN = (
    "api.train(gpt3, chip=chip, system=cluster, num_chips=1024, global_batch=1536, "
    "seq_len=2048, tp=8, pp=8, dp=16, cp=1, ep=1, micro_batch=1, virtual_stages=1, "
    "recompute='selective', zero=0, sequence_parallel=True, top=1)"
)
TIGRIS_SEARCH = (
    "api.train(gpt3, chip=chip, system=cluster, num_chips=1024, global_batch=1536, seq_len=2048)"
)
TIGRIS_INFER = (
    "api.infer(llama70, chip=chip, num_chips=8, batch=16, input_len=1024, output_len=256)"
)
PEER_SETUP = "import llm_analysis.analysis as analysis"


def command_times(
    command: list[str], repeats: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median (wall, CPU) seconds of a command run `repeats` times (output discarded) in
    `env` (this process's by default), after one untimed run; a failing command stops the
    bench with its stderr."""
    subprocess.run(command, capture_output=True, cwd=REPO, env=env, timeout=600)
    walls, cpus = [], []
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600
        )
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(
            after.children_user + after.children_system
            - before.children_user - before.children_system
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return statistics.median(walls), statistics.median(cpus)


def call_times(
    python: str,
    setup: str,
    call: str,
    repeats: int,
    warm_calls: int,
    env: dict[str, str] | None = None,
) -> tuple:
    """((cold wall, cold CPU), (warm wall, warm CPU)): medians of the first call over
    `repeats` fresh processes (in `env`, after an untimed one), and of the repeated calls."""
    script = CALL_SCRIPT.format(setup=setup, call=call, warm_calls=warm_calls)
    runs = []
    for run in range(repeats + 1):
        done = subprocess.run(
            [python, "-c", script], capture_output=True, text=True, cwd=REPO, env=env,
            timeout=600,
        )  # fmt: skip
        if run == 0:
            continue
        if done.returncode:
            raise SystemExit(f"{call} failed:\n{done.stderr[-2000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cold = tuple(statistics.median(run[kind][0] for run in runs) for kind in (0, 1))
    warm = tuple(statistics.median(run[kind][1] for run in runs) for kind in (0, 1))
    return cold, warm


def peer_cli(python: str, command: str, args: dict) -> list[str]:
    return [python, "-m", "llm_analysis.analysis", command] + [
        f"--{key}={value}" for key, value in args.items()
    ]


def peer_call(command: str, args: dict) -> str:
    return f"analysis.{command}(**{args!r})"


NO_PEER = ((None, None), (None, None))


def measure(repeats: int, cold_start: bool = False) -> list[dict]:
    """Every row: name, Tigris (wall, CPU) seconds, the peer's (or Nones), target seconds
    of the wall time (or None)."""
    peer = peer_python()
    env = tigris_env(cold_start)
    rows = []

    def row(name, tigris, peer_times=(None, None), target_s=None):
        rows.append({"name": name, "tigris": tigris, "peer": peer_times, "target_s": target_s})

    def cli(command, args):
        return command_times(peer_cli(peer, command, args), repeats) if peer else (None, None)

    def calls(call, peer_command, peer_args, warm_calls=50):
        tigris = call_times(sys.executable, TIGRIS_SETUP, call, repeats, warm_calls, env)
        peer_call_ = peer_call(peer_command, peer_args)
        other = call_times(peer, PEER_SETUP, peer_call_, repeats, warm_calls) if peer else NO_PEER
        return tigris, other

    row("tigris --help", command_times([*TIGRIS, "--help"], repeats, env), target_s=0.3)
    row("tigris gemm, one chip", command_times(GEMM_CLI, repeats, env), target_s=0.3)
    train_cli = [*TIGRIS, "train", *GPT3_TRAIN, *GPT3_PLAN, "--json"]
    train = command_times(train_cli, repeats, env)
    row("tigris train, one plan", train, cli("train", PEER_TRAIN))
    search_cli = [*TIGRIS, "train", *GPT3_TRAIN, "--json"]
    row("tigris train, GPT-3 plan search", command_times(search_cli, repeats, env))
    infer_cli = [*TIGRIS, "infer", *INFER_70B, "--json"]
    row("tigris infer", command_times(infer_cli, repeats, env), cli("infer", PEER_INFER))
    (cold, warm), (peer_cold, peer_warm) = calls(TIGRIS_TRAIN_PLAN, "train", PEER_TRAIN)
    row("one training plan, cold", cold, peer_cold)
    row("one training plan, warm", warm, peer_warm)
    (cold, warm), (peer_cold, peer_warm) = calls(TIGRIS_INFER, "infer", PEER_INFER)
    row("one inference estimate, cold", cold, peer_cold)
    row("one inference estimate, warm", warm, peer_warm)
    search = call_times(sys.executable, TIGRIS_SETUP, TIGRIS_SEARCH, repeats, 2, env)
    row("GPT-3 175B / 1,024 H100 plan search, cold", search[0], target_s=0.5)
    row("GPT-3 175B / 1,024 H100 plan search, warm", search[1], target_s=0.5)
    return rows


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.2f} ms" if value < 0.1 else f"{value:.3f} s"


def _ratio(peer_s: float | None, tigris_s: float) -> float | None:
    return peer_s / tigris_s if peer_s else None


def print_table(rows: list[dict]) -> None:
    print("median wall (CPU); ratio = llm-analysis / tigris, above 1: tigris faster")
    print(f"load average (1 min) now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    head = f"{'':42} {'tigris':>21} {'llm-analysis':>21} {'ratio':>13}  target (wall, CPU)"
    print(head)
    for r in rows:
        (wall, cpu), (peer_wall, peer_cpu) = r["tigris"], r["peer"]
        ratios = [_ratio(peer_wall, wall), _ratio(peer_cpu, cpu)]
        ratio = "-" if ratios[0] is None else f"{ratios[0]:.2f}x ({ratios[1]:.2f}x)"
        target = ""
        if r["target_s"]:
            verdicts = ["ok" if seconds < r["target_s"] else "MISSED" for seconds in (wall, cpu)]
            target = f"< {_seconds(r['target_s'])} {verdicts[0]} (CPU {verdicts[1]})"
        tigris = f"{_seconds(wall)} ({_seconds(cpu)})"
        other = "-" if peer_wall is None else f"{_seconds(peer_wall)} ({_seconds(peer_cpu)})"
        print(f"{r['name']:42} {tigris:>21} {other:>21} {ratio:>13}  {target}")
    if all(r["peer"][0] is None for r in rows):
        print("(no peer venv: see bench/peers.py)")


def as_json(rows: list[dict], repeats: int) -> dict:
    def entry(r):
        (wall, cpu), (peer_wall, peer_cpu) = r["tigris"], r["peer"]
        return {
            "name": r["name"],
            "tigris_wall_s": wall,
            "tigris_cpu_s": cpu,
            "peer_wall_s": peer_wall,
            "peer_cpu_s": peer_cpu,
            "ratio_wall": _ratio(peer_wall, wall),
            "ratio_cpu": _ratio(peer_cpu, cpu),
            "target_wall_s": r["target_s"],
        }

    return {"peer": "llm-analysis", "repeats": repeats, "rows": [entry(r) for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per median (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--cold-start", action="store_true", help="no bytecode, no spec cache (first runs)"
    )
    args = parser.parse_args()
    rows = measure(args.repeats, args.cold_start)
    if args.json:
        print(json.dumps(as_json(rows, args.repeats) | {"cold_start": args.cold_start}, indent=2))
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
