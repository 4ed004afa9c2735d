"""The model x chip x command matrix of issue 16: each new model through `tigris infer`,
`tigris serve` and `tigris train` on today's systems, run as a user runs them (a
subprocess per cell), with the exit code, the time and a few figures of each cell.

Used by tests/e2e/test_model_chip_matrix.py (a fast subset in CI, the whole matrix marked
slow) and, run as a script, to write docs/data/model-chip-matrix.json:

    .venv/bin/python tests/e2e/matrix.py [--workers 2] [--out docs/data/model-chip-matrix.json]

Setups (stated so a reader can judge the cells):
- infer and serve: 1024 prompt / 256 output tokens, bf16. Chips: the smallest power of two
  whose memory holds the bf16 weights (85 % of DRAM), doubled while the command answers
  infeasible for memory (up to 1024). Layout: tp the largest power of two up to 8 (one
  server's NVLink or a TPU tray) dividing the attention heads; the other chips are expert
  parallel for an MoE model whose experts they divide, pipeline stages otherwise.
- serve: offline, 32 requests.
- train: the plan search (`--top 1`), bf16, sequences of 4096 tokens (the model's
  context if shorter), one sequence per chip a step; 64 chips under 50 B parameters,
  256 under 250 B, 1024 above.

A cell is `ok` (exit 0), `infeasible` (exit 3 with a one-line reason: accepted only for
memory, which the table says), or `bug` (any other exit, or a traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

MODELS = (
    "deepseek-v3",
    "deepseek-r1",
    "kimi-k2",
    "qwen3-32b",
    "qwen3-235b-a22b",
    "llama4-scout",
    "llama4-maverick",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "nemotron-4-340b",
    "gemma3-27b",
    "gpt-j-6b",
    "falcon-180b",
    "mpt-30b",
)
# gb200's default system is the GB200 NVL72 rack (72 GPUs in one NVLink domain)
CHIPS = ("h100-sxm", "h200-sxm", "b200", "gb200", "mi355x", "tpu-v7", "tigris-1")
COMMANDS = ("infer", "serve", "train")

INPUT_LEN, OUTPUT_LEN = 1024, 256
SERVE_REQUESTS = 32
MAX_CHIPS = 1024
WEIGHT_SHARE = 0.85  # of DRAM for weights: the rest is KV cache and activations
CELL_TIMEOUT_S = 600
# a memory miss, which the matrix accepts as infeasible (a layout miss is not)
MEMORY_WORDS = re.compile(r"does not fit|memory|leave no room|GB of weights", re.IGNORECASE)


@dataclass
class Cell:
    model: str
    chip: str
    command: str
    status: str = "bug"  # ok | infeasible | bug
    returncode: int | None = None
    seconds: float = 0.0
    argv: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)
    message: str = ""


def _spec_figures(model: str) -> dict[str, int | float]:
    from tigris.workload.presets import load_model

    spec = load_model(model)
    return {
        "params": spec.num_params,
        "heads": spec.num_heads,
        "experts": spec.num_experts,
        "layers": spec.num_layers,
        "context": spec.max_position_embeddings,
    }


def _capacity(chip: str) -> float:
    from tigris.hardware.presets import load_chip

    return load_chip(chip).dram_capacity_bytes


def smallest_chips(model: str, chip: str) -> int:
    """The smallest power of two whose DRAM holds the bf16 weights with room to spare."""
    need = 2 * _spec_figures(model)["params"] / (WEIGHT_SHARE * _capacity(chip))
    return 1 << max(0, math.ceil(math.log2(max(need, 1.0))))


def layout(model: str, num_chips: int) -> list[str]:
    """tp within a server dividing the heads; ep over experts for MoE, pp otherwise."""
    spec = _spec_figures(model)
    tp = 1
    while tp * 2 <= min(num_chips, 8) and spec["heads"] % (tp * 2) == 0:
        tp *= 2
    rest = num_chips // tp
    args = ["--num-chips", str(num_chips), "--tp", str(tp)]
    if rest == 1:
        return args
    if spec["experts"] and spec["experts"] % rest == 0:
        return [*args, "--ep", str(rest)]
    return [*args, "--pp", str(rest)]


def train_chips(model: str) -> int:
    params = _spec_figures(model)["params"]
    return 64 if params < 50e9 else 256 if params < 250e9 else 1024


def run(argv: list[str], timeout: float = CELL_TIMEOUT_S) -> tuple[int, str, str, float]:
    """`python -m tigris ARGV` in a subprocess: (exit code, stdout, stderr, seconds)."""
    env = {**os.environ, "TIGRIS_PROGRESS_EVERY_S": "3600"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tigris", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return -9, "", f"timed out after {timeout:g} s", time.perf_counter() - start
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - start


def _judge(cell: Cell, rc: int, out: str, err: str, seconds: float, keys) -> Cell:
    cell.returncode, cell.seconds = rc, round(seconds, 2)
    message = " ".join(err.split())
    if rc == 0 and "Traceback" not in err:
        cell.status = "ok"
        data = json.loads(out)
        cell.figures = {key: data[key] for key in keys if key in data}
    elif rc == 3 and "Traceback" not in err and MEMORY_WORDS.search(message):
        cell.status, cell.message = "infeasible", message[:300]
    else:
        cell.status = "bug"
        tail = err.strip().splitlines()[-3:] if "Traceback" in err else [message]
        cell.message = " | ".join(tail)[:600]
    return cell


INFER_KEYS = ("tp", "pp", "ep", "ttft_s", "tpot_s", "throughput_tokens_per_s")
INFER_KEYS += ("memory_per_chip_bytes", "weights_per_chip_bytes")
SERVE_KEYS = ("tp", "pp", "ep", "throughput_tokens_per_s", "ttft_p50_s", "tpot_p50_s")
SERVE_KEYS += ("num_preemptions", "energy_per_token_j")
TRAIN_KEYS = ("step_time_s", "mfu", "tokens_per_s", "memory_per_chip_bytes", "plan")


def _lengths() -> list[str]:
    return ["--input-len", str(INPUT_LEN), "--output-len", str(OUTPUT_LEN)]


def infer_argv(model: str, chip: str, num_chips: int) -> list[str]:
    return ["infer", model, "--chip", chip, *layout(model, num_chips), *_lengths(), "--json"]


def serve_argv(model: str, chip: str, num_chips: int) -> list[str]:
    return [
        "serve", model, "--chip", chip, *layout(model, num_chips), *_lengths(),
        "--scenario", "offline", "--num-requests", str(SERVE_REQUESTS), "--quiet", "--json",
    ]  # fmt: skip


def train_argv(model: str, chip: str) -> list[str]:
    chips = train_chips(model)
    seq = min(4096, int(_spec_figures(model)["context"]))
    return [
        "train", model, "--chip", chip, "--num-chips", str(chips), "--global-batch",
        str(chips), "--seq-len", str(seq), "--top", "1", "--json",
    ]  # fmt: skip


def run_growing(model: str, chip: str, command: str, start: int) -> Cell:
    """infer or serve from `start` chips, doubling while the answer is a memory miss."""
    build, keys = (infer_argv, INFER_KEYS) if command == "infer" else (serve_argv, SERVE_KEYS)
    num_chips = start
    while True:
        argv = build(model, chip, num_chips)
        cell = _judge(Cell(model, chip, command, argv=argv), *run(argv), keys)
        cell.figures["num_chips"] = num_chips
        if cell.status != "infeasible" or num_chips >= MAX_CHIPS:
            return cell
        num_chips *= 2


def run_cell(model: str, chip: str, command: str, start: int | None = None) -> Cell:
    """One cell of the matrix (infer/serve start at `start` chips, default the weights')."""
    if command == "train":
        argv = train_argv(model, chip)
        cell = _judge(Cell(model, chip, command, argv=argv), *run(argv), TRAIN_KEYS)
        cell.figures["num_chips"] = train_chips(model)
        return cell
    return run_growing(model, chip, command, start or smallest_chips(model, chip))


def run_row(model: str, chip: str, commands=COMMANDS) -> list[Cell]:
    """The commands of one model on one chip; serve starts where infer fitted."""
    cells: list[Cell] = []
    start = None
    for command in commands:
        cell = run_cell(model, chip, command, start if command == "serve" else None)
        if command == "infer" and cell.status == "ok":
            start = int(cell.figures["num_chips"])
        cells.append(cell)
    return cells


def summarise(cells: list[Cell]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for cell in cells:
        row = counts.setdefault(cell.command, {"ok": 0, "infeasible": 0, "bug": 0})
        row[cell.status] += 1
    return counts


def _tree_state() -> dict[str, object]:
    """The commit the matrix ran on, and how many files differed from it (other engineers
    edit the shared tree while it runs: a bug seen once is re-run with --rerun)."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[2])]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--short"], capture_output=True, text=True)
    return {"commit": head.stdout.strip(), "files_changed": len(dirty.stdout.splitlines())}


def _print(cell: Cell) -> None:
    print(f"{cell.model:16} {cell.chip:9} {cell.command:6} {cell.status:10} "
          f"{cell.seconds:7.1f}s {cell.message[:100]}", flush=True)  # fmt: skip


def _run_pairs(pairs: list[tuple[str, str]], workers: int) -> list[Cell]:
    cells: list[Cell] = []
    with ThreadPoolExecutor(workers) as pool:
        for row in pool.map(lambda pair: run_row(*pair), pairs):
            cells.extend(row)
            for cell in row:
                _print(cell)
    return cells


def _rerun_bugs(path: str, workers: int) -> list[Cell]:
    """The cells of an earlier run, with the rows that had a bug run again."""
    cells = [Cell(**cell) for cell in json.loads(Path(path).read_text())["cells"]]
    pairs = sorted({(c.model, c.chip) for c in cells if c.status == "bug"})
    again = {(c.model, c.chip, c.command): c for c in _run_pairs(pairs, workers)}
    return [again.get((c.model, c.chip, c.command), c) for c in cells]


def _cell_text(row: dict[str, dict]) -> str:
    """One model on one chip: infer's chips and TPOT, serve's tokens/s, train's MFU."""
    parts = []
    for command, show in (
        ("infer", lambda f: f"{f['num_chips']}x {f['tpot_s'] * 1e3:.1f} ms"),
        ("serve", lambda f: f"{f['throughput_tokens_per_s']:,.0f} tok/s"),
        ("train", lambda f: f"MFU {f['mfu']:.0%}"),
    ):
        cell = row.get(command)
        if cell is None:
            continue
        status = cell["status"]
        parts.append(show(cell["figures"]) if status == "ok" else status.upper())
    return " / ".join(parts)


def render_markdown(document: dict) -> str:
    """The summary and a model x chip table (infer chips and TPOT / serve output tokens/s
    / train MFU), then every cell that is not ok with its command and message."""
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for cell in document["cells"]:
        rows.setdefault((cell["model"], cell["chip"]), {})[cell["command"]] = cell
    models = list(dict.fromkeys(model for model, _ in rows))
    chips = list(dict.fromkeys(chip for _, chip in rows))
    lines = ["| command | ok | infeasible | bug |", "|---|---|---|---|"]
    for command, counts in document["summary"].items():
        lines.append(f"| {command} | {counts['ok']} | {counts['infeasible']} | {counts['bug']} |")
    lines += ["", "| model | " + " | ".join(chips) + " |", "|---" * (len(chips) + 1) + "|"]
    for model in models:
        texts = [_cell_text(rows.get((model, chip), {})) for chip in chips]
        lines.append(f"| {model} | " + " | ".join(texts) + " |")
    others = [c for c in document["cells"] if c["status"] != "ok"]
    if others:
        lines += ["", "Cells that are not ok:", ""]
    for cell in others:
        command = " ".join(cell["argv"])
        lines.append(f"- {cell['status']}: `tigris {command}` (exit {cell['returncode']}): "
                     f"{cell['message']}")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="docs/data/model-chip-matrix.json")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--chips", default=",".join(CHIPS))
    parser.add_argument("--rerun", help="an earlier run's JSON: run its rows with a bug again")
    parser.add_argument("--markdown", help="print an earlier run's JSON as Markdown tables")
    options = parser.parse_args()
    if options.markdown:
        print(render_markdown(json.loads(Path(options.markdown).read_text())), end="")
        return
    if options.rerun:
        cells = _rerun_bugs(options.rerun, options.workers)
    else:
        models, chips = options.models.split(","), options.chips.split(",")
        cells = _run_pairs([(m, c) for m in models for c in chips], options.workers)
    document = {
        "setup": __doc__.split("Setups (stated so a reader can judge the cells):")[1].strip(),
        "tree": _tree_state(),
        "summary": summarise(cells),
        "cells": [asdict(cell) for cell in cells],
    }
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    Path(options.out).write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"]))


if __name__ == "__main__":
    main()
