"""A corpus of bad input, run through every command as a user would run it.

Each case runs `python -m tigris ...` in a subprocess, in a folder of its own holding only
its input files, and must end as a user mistake should:

- no traceback on stderr;
- exit code 2 (3 where the design is valid but cannot run the workload);
- a message of one to four lines (at most MAX_MESSAGE_CHARS characters: no message may
  print an unbounded value such as a file's contents or an expanded YAML alias);
- within TIMEOUT_S (no blow-up in time or memory);
- nothing left behind in its folder, and no input file replaced or changed.

The cases run two at a time in a thread pool (started by the `outcomes` fixture for the
cases selected), so the file takes about half the sum of their times. A case that fails
because of another helper's area is marked xfail(strict=True) with the reason; remove
the mark when the fix lands.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

from tigris.hardware.presets import chip_path

TIMEOUT_S = 60
XFAIL_TIMEOUT_S = 15  # a case expected to fail need not be waited on for long
WORKERS = 2
MAX_LINES = 4
MAX_MESSAGE_CHARS = 1500

H100 = chip_path("h100-sxm").read_text()
LLAMA = json.loads(
    (resources.files("tigris.workload") / "catalog" / "models" / "llama3-8b.json").read_text()
)

# ---------------------------------------------------------------------------- file kinds


class Fifo:
    """A named pipe (os.mkfifo): a command that opens it for reading would block."""


class Folder:
    """A directory where a file is expected."""


FIFO = Fifo()
FOLDER = Folder()
BINARY = bytes(random.Random(13).randrange(256) for _ in range(4000)) + b"\0"
LATIN1 = "name: caf\xe9 chip\nkind: gpu\n".encode("latin-1")
BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)
FLOW_BOMB = (
    "[&a [lol,lol,lol,lol,lol,lol,lol,lol,lol], "
    + ", ".join(
        f"&{name} [{', '.join([f'*{prev}'] * 9)}]"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "]"
)
DEEP_YAML = "x: " + "[" * 20000 + "]" * 20000 + "\n"
DEEP_JSON = '{"model_type": ' + "[" * 100000 + "]" * 100000 + "}"
HUGE_INT = "9" * 5000
HUGE = str(10**30)
LONG = "x" * 200_000
CHIP_BOMB = BOMB + "\nbase: h100-sxm\ntdp: *i\n"


def chip(old: str, new: str) -> str:
    """The H100 preset with one piece replaced."""
    assert old in H100, old
    return H100.replace(old, new, 1)


def config(**changes: object) -> str:
    """The llama3-8b config.json with keys changed (None removes the key)."""
    data = dict(LLAMA)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def config_text(replace: str, by: str) -> str:
    text = json.dumps(LLAMA)
    assert replace in text, replace
    return text.replace(replace, by, 1)


# ---------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    files: dict[str, object] = field(default_factory=dict)
    codes: tuple[int, ...] = (2,)
    xfail: str | None = None


CASES: list[Case] = []


def case(
    id: str,
    *args: str,
    files: dict[str, object] | None = None,
    codes: tuple[int, ...] = (2,),
    xfail: str | None = None,
) -> None:
    assert all(c.id != id for c in CASES), id
    CASES.append(Case(id, tuple(args), dict(files or {}), codes, xfail))


def show_chip(id: str, text: object, **kwargs: object) -> None:
    case(id, "show", "{d}/chip.yaml", files={"chip.yaml": text}, **kwargs)  # type: ignore[arg-type]


# --- chip files: not a mapping of text at all
show_chip("chip-binary", BINARY)
show_chip("chip-not-utf8", LATIN1)
show_chip("chip-empty", "")
show_chip("chip-fifo", FIFO)
show_chip("chip-folder", FOLDER)
case("chip-missing", "show", "{d}/nowhere.yaml")
case("chip-under-a-file", "show", "{d}/chip.yaml/inner.yaml", files={"chip.yaml": H100})
show_chip("chip-top-level-list", "- a\n- b\n")
show_chip("chip-long-scalar", LONG)
show_chip("chip-too-large", " " * (16 * 2**20 + 10) + "a: 1\n")
show_chip("chip-bad-yaml", "id: [unclosed\nname: x\n")
show_chip("chip-python-tag", "!!python/object/apply:os.system ['echo hi']\n")
show_chip("chip-unhashable-key", "? [a, b]\n: 1\n")
show_chip("chip-alias-bomb", BOMB)
show_chip("chip-alias-bomb-in-field", CHIP_BOMB)
show_chip("chip-alias-cycle", "base: h100-sxm\nnotes: &a [*a]\n")
show_chip("chip-deep-nesting", DEEP_YAML)
show_chip(
    "chip-huge-int-digits",
    chip("num_dies: 1", f"num_dies: {HUGE_INT}")
    if "num_dies: 1" in H100
    else f"base: h100-sxm\nnum_dies: {HUGE_INT}\n",
)
# --- chip files: bad values
show_chip("chip-nan-capacity", chip("capacity: 81559 MiB", "capacity: .nan GB"))
show_chip("chip-inf-clock", "base: h100-sxm\nmatrix: {clock: inf GHz}\n")
show_chip("chip-overflow-tdp", chip("tdp: 700 W", "tdp: 1e400 W"))
show_chip("chip-overflow-prefix", chip("capacity: 81559 MiB", "capacity: 1e300 EB"))
show_chip("chip-yaml-nan", "base: h100-sxm\ncalibration: {matrix_fraction: .nan}\n")
show_chip("chip-bare-bandwidth", chip("bandwidth: 3.35 TB/s", "bandwidth: 3350000000000"))
show_chip("chip-ambiguous-unit", chip("bandwidth: 3.35 TB/s", "bandwidth: 3.35 TBps"))
show_chip("chip-negative-capacity", chip("capacity: 81559 MiB", "capacity: -80 GB"))
show_chip("chip-zero-clock", "base: h100-sxm\nmatrix: {clock: 0 GHz}\n")
show_chip("chip-long-quantity", chip("tdp: 700 W", f"tdp: '{'7' * 5000} W'"))
show_chip("chip-unknown-field", chip("tdp: 700 W", "tdp: 700 W\nturbo_mode: true"))
show_chip("chip-duplicate-key", chip("tdp: 700 W", "tdp: 700 W\ntdp: 650 W"))
show_chip("chip-matrix-for-other-kind", chip("kind: gpu", "kind: tpu"))
show_chip("chip-no-memory", "id: x\nname: x\nvendor: x\nkind: gpu\nprocess: {name: x}\n")
show_chip("chip-negative-count", "base: h100-sxm\nmatrix: {num_sms: -4}\n")
show_chip("chip-huge-count", f"base: h100-sxm\nmatrix: {{num_sms: {HUGE}}}\n")
show_chip(
    "chip-zero-instances",
    "base: tigris-1\nmemory: {sram: [{name: x, capacity: 1 MB, instances: 0}]}\n",
)
show_chip("chip-nan-macs", "base: tigris-1\nmatrix: {macs_per_pe_per_cycle: {bf16: .nan}}\n")
show_chip("chip-negative-macs", "base: tigris-1\nmatrix: {macs_per_pe_per_cycle: {bf16: -1}}\n")
show_chip("chip-unreadable-peak", "base: h100-sxm\nmatrix: {peak: {bf16: many TFLOP/s}}\n")
show_chip(
    "chip-link-directions-disagree",
    "base: h100-sxm\nlinks: [{name: x, bandwidth_unidir: 1 GB/s, bandwidth_bidir: 5 GB/s}]\n",
)
show_chip("chip-unknown-base", "base: h100-smx\nid: x\n")
show_chip("chip-circular-base", "base: chip.yaml\nid: x\n")
show_chip("chip-base-missing-file", "base: other.yaml\nid: x\n")
case(
    "chip-base-binary",
    "show",
    "{d}/chip.yaml",
    files={"chip.yaml": "base: other.yaml\nid: x\n", "other.yaml": BINARY},
)
# --- chip ids and --set overrides
case("chip-unknown-id", "show", "h100-smx")
case(
    "gemm-chip-binary",
    "gemm",
    "8",
    "8",
    "8",
    "--chip",
    "{d}/chip.yaml",
    files={"chip.yaml": BINARY},
)
case("set-not-a-quantity", "show", "h100-sxm", "--set", "matrix.clock=fast")
case("set-nan-quantity", "show", "h100-sxm", "--set", "memory.dram.capacity=.nan GB")
case("set-inf-quantity", "show", "h100-sxm", "--set", "matrix.clock=inf GHz")
case("set-overflow-quantity", "gemm", "8", "8", "8", "--set", "tdp=1e400 W")
case("set-no-equals", "show", "h100-sxm", "--set", "matrix.clock")
case("set-empty-key", "show", "h100-sxm", "--set", "=5")
case("set-missing-list-item", "show", "h100-sxm", "--set", "memory.sram[99].capacity=1 MB")
case("set-huge-count", "gemm", "8", "8", "8", "--set", f"matrix.num_sms={HUGE}")
case("set-alias-bomb", "show", "h100-sxm", "--set", f"notes={FLOW_BOMB}")
case("set-long-value", "show", "h100-sxm", "--set", f"tdp={LONG[:100_000]}")
# --- gemm numbers and names
case("gemm-zero", "gemm", "0", "8", "8")
case("gemm-not-a-number", "gemm", "8", "8", "abc")
case("gemm-huge", "gemm", HUGE, HUGE, HUGE)
case("gemm-bad-dtype", "gemm", "8", "8", "8", "--dtype", "fp3")
case("gemm-bad-engine", "gemm", "8", "8", "8", "--engine", "warp")
case("gemm-unsupported-dtype", "gemm", "64", "64", "64", "--chip", "a100-sxm", "--dtype", "fp8")
# --- chips, models, top level
case("chips-bad-option", "chips", "--bogus")
case("models-extra-argument", "models", "extra")
case("unknown-command", "bogus")
case("unknown-top-option", "--bogus")
case("show-no-chip", "show")

# --- model configs (train, infer, serve)
TRAIN = ("--chip", "h100-sxm", "--num-chips", "8", "--global-batch", "8", "--seq-len", "512")


def train_config(id: str, text: object, **kwargs: object) -> None:
    case(id, "train", "{d}/cfg.json", *TRAIN, files={"cfg.json": text}, **kwargs)  # type: ignore[arg-type]


train_config("config-truncated", json.dumps(LLAMA)[:-40])
train_config("config-not-json", "model_type = llama\n")
train_config("config-empty", "")
train_config("config-binary", BINARY)
train_config("config-nan", config_text('"hidden_size": 4096', '"hidden_size": NaN'))
train_config("config-huge-digits", config_text('"hidden_size": 4096', f'"hidden_size": {HUGE_INT}'))
train_config("config-deep-nesting", DEEP_JSON)
train_config("config-missing-hidden", config(hidden_size=None))
train_config("config-unknown-model-type", config(model_type="bert"))
train_config("config-list-model-type", config(model_type=["llama"] * 1000))
train_config("config-negative-hidden", config(hidden_size=-4096))
train_config("config-zero-heads", config(num_attention_heads=0))
train_config("config-fractional-layers", config(num_hidden_layers=31.5))
train_config("config-string-hidden", config(hidden_size="4096x"))
train_config("config-huge-hidden", config(hidden_size=10**30))
train_config("config-heads-not-dividing", config(hidden_size=4000, num_attention_heads=48))
train_config("config-kv-heads-not-dividing", config(num_key_value_heads=7))
train_config("config-bad-activation", config(hidden_act="tanh_squared"))
train_config("config-bad-flag", config(tie_word_embeddings="nope"))
case("config-folder", "train", "{d}/config.json", *TRAIN, files={"config.json": FOLDER})
case("model-unknown-id", "train", "llama9-8b", *TRAIN)

# --- train numbers and options
TRAIN_MODEL = ("train", "llama3-8b")


def train(id: str, *options: str, **kwargs: object) -> None:
    defaults = dict(zip(TRAIN[::2], TRAIN[1::2], strict=True))
    given = dict(zip(options[::2], options[1::2], strict=True))
    args = [item for pair in ({**defaults, **given}).items() for item in pair]
    case(id, *TRAIN_MODEL, *args, **kwargs)  # type: ignore[arg-type]


train("train-zero-chips", "--num-chips", "0")
train("train-huge-seq-len", "--seq-len", str(10**12), codes=(2, 3))
train("train-huge-batch", "--global-batch", str(10**18), codes=(2, 3))
train("train-bad-dtype", "--dtype", "int3")
train("train-plan-not-chips", "--tp", "3", "--pp", "1", "--dp", "5")
train("train-chip-binary", "--chip", "{d}/chip.yaml", files={"chip.yaml": BINARY})
train("train-nan-tokens", "--tokens", "nan")

# --- infer
INFER = ("infer", "llama3-8b", "--chip", "h100-sxm")
case("infer-negative-batch", *INFER, "--batch", "-1")
case("infer-zero-input", *INFER, "--input-len", "0")
case(
    "infer-huge-input",
    *INFER,
    "--input-len",
    str(10**12),
    codes=(2, 3),
)
case("infer-tp-not-dividing", *INFER, "--num-chips", "8", "--tp", "3")
case("infer-model-does-not-fit", "infer", "llama3-70b", "--chip", "h100-sxm", codes=(3,))
case("infer-batch-does-not-fit", *INFER, "--batch", str(10**6), codes=(3,))
case("infer-bad-weight-dtype", *INFER, "--weight-dtype", "int3")
case(
    "infer-config-nan",
    "infer",
    "{d}/cfg.json",
    files={"cfg.json": config_text('"vocab_size": 128256', '"vocab_size": NaN')},
)

# --- serve
SERVE = ("serve", "llama3-8b", "--chip", "h100-sxm", "--num-requests", "20")
case("serve-bad-scenario", *SERVE, "--scenario", "xx")
case("serve-nan-rate", *SERVE, "--scenario", "server", "--rate", "nan")
case("serve-huge-requests", *SERVE[:-2], "--num-requests", str(10**12))
case("serve-bad-length-dist", *SERVE, "--length-dist", "weird")
case("serve-zero-block-size", *SERVE, "--block-size", "0")
case(
    "serve-negative-slo",
    *SERVE,
    "--slo-ttft",
    "-1",
)
case("serve-nan-slo", *SERVE, "--slo-tpot", "nan")
case("serve-negative-seed", *SERVE, "--seed", "-1")
case("serve-empty-set-value", "show", "h100-sxm", "--set", "matrix.clock=")
case("serve-kv-block-larger-than-memory", *SERVE, "--block-size", "100000000", codes=(3,))


def serve_trace(id: str, name: str, content: object, **kwargs: object) -> None:
    case(id, *SERVE, "--trace", f"{{d}}/{name}", files={name: content}, **kwargs)  # type: ignore[arg-type]


TRACE_HEAD = "arrival_s,input_len,output_len\n"
case("trace-missing", *SERVE, "--trace", "{d}/trace.csv")
serve_trace("trace-binary", "trace.csv", BINARY)
serve_trace("trace-empty", "trace.csv", "")
serve_trace("trace-negative-length", "trace.csv", TRACE_HEAD + "0,-1,3\n")
serve_trace("trace-nan-arrival", "trace.csv", TRACE_HEAD + "nan,10,3\n")
serve_trace("trace-inf-arrival", "trace.csv", TRACE_HEAD + "inf,10,3\n")
serve_trace("trace-huge-length", "trace.csv", TRACE_HEAD + f"0,{HUGE},3\n", codes=(2, 3))
serve_trace("trace-malformed-jsonl", "trace.jsonl", '{"arrival_s": 0, "input_len": 10\n')
serve_trace("trace-folder", "trace.csv", FOLDER)
serve_trace("trace-fifo", "trace.csv", FIFO)

# --- compare (workload files, chips, assumptions, --set, --out)
COMPARE = ("compare", "--chips", "h100-sxm", "--out", "")


def compare_workload(id: str, content: object, **kwargs: object) -> None:
    case(id, *COMPARE, "--workload", "{d}/w.yaml", files={"w.yaml": content}, **kwargs)  # type: ignore[arg-type]


SERVE_WORKLOAD = "kind: serve\nmodel: llama3-8b\nnum_chips: 1\ninput_len: 128\noutput_len: 16\n"
TRAIN_WORKLOAD = "kind: train\nmodel: llama3-8b\nnum_chips: 8\nglobal_batch: 8\nseq_len: 512\n"
compare_workload("workload-binary", BINARY)
compare_workload("workload-alias-bomb", BOMB)
compare_workload("workload-unknown-kind", SERVE_WORKLOAD.replace("kind: serve", "kind: fly"))
compare_workload("workload-zero-chips", SERVE_WORKLOAD.replace("num_chips: 1", "num_chips: 0"))
compare_workload("workload-bare-slo", SERVE_WORKLOAD + "slo_ttft: 2\n")
compare_workload("workload-nan-slo", SERVE_WORKLOAD + "slo_tpot: nan ms\n")
compare_workload(
    "workload-bad-plan",
    TRAIN_WORKLOAD + "plan: {tq: 8}\n",
)
compare_workload(
    "workload-huge-seq-len",
    TRAIN_WORKLOAD.replace("seq_len: 512", f"seq_len: {HUGE}"),
    codes=(2, 3),
)
case(
    "workload-model-config-nan",
    *COMPARE,
    "--workload",
    "{d}/w.yaml",
    files={
        "w.yaml": SERVE_WORKLOAD.replace("llama3-8b", "cfg.json"),
        "cfg.json": config_text('"vocab_size": 128256', '"vocab_size": NaN'),
    },
)
case("compare-unknown-chip", "compare", "--chips", "nope", "--out", "")
case("compare-assumptions-bomb", *COMPARE, "--assumptions", "{d}/a.yaml", files={"a.yaml": BOMB})
case("compare-set-nan", *COMPARE, "--set", "operations.pue=.nan")
COMPARE_RUN = ("compare", "--chips", "h100-sxm", "--workload", "serve-8b")
case("compare-out-folder", *COMPARE_RUN, "--out", "{d}/report", files={"report": FOLDER})
case("compare-out-missing-folder", *COMPARE_RUN, "--out", "{d}/missing/report.html")
case("compare-out-fifo", *COMPARE_RUN, "--out", "{d}/report.html", files={"report.html": FIFO})

# --- explore
SWEEP = """name: s
base: tigris-1
axes:
  matrix.num_cores: [1, 2]
workloads:
  - {name: chat, task: serve, model: llama3-8b, rate: 8, num_requests: 20, input_len: 128, output_len: 16}
objectives:
  - {metric: tokens_per_s, goal: max}
search: {sampler: grid, seed: 0, batch: 8}
"""


def explore_sweep(
    id: str,
    content: object,
    *options: str,
    extra: dict[str, object] | None = None,
    **kwargs: object,
) -> None:
    files = {"s.yaml": content, **(extra or {})}
    case(id, "explore", "run", "{d}/s.yaml", *options, files=files, **kwargs)  # type: ignore[arg-type]


explore_sweep("sweep-binary", BINARY)
explore_sweep("sweep-alias-bomb", BOMB)
explore_sweep("sweep-bomb-in-axis", BOMB + "\n" + SWEEP.replace("[1, 2]", "*i"))
explore_sweep("sweep-unknown-base", SWEEP.replace("base: tigris-1", "base: tigris-9"))
explore_sweep("sweep-unknown-axis", SWEEP.replace("matrix.num_cores", "matrix.num_crores"))
explore_sweep("sweep-empty-axis", SWEEP.replace("[1, 2]", "[]"))
explore_sweep("sweep-bad-expression", SWEEP + "derived:\n  x: 'matrix.rows * * 2'\n")
explore_sweep("sweep-eval-attempt", SWEEP + "derived:\n  x: \"__import__('os').system('true')\"\n")
explore_sweep(
    "sweep-huge-grid",
    SWEEP.replace(
        "matrix.num_cores: [1, 2]", "matrix.num_cores: {range: [1, 100000000], num: 100000000}"
    ),
)
explore_sweep("sweep-zero-workers", SWEEP, "--workers", "0")
explore_sweep("sweep-thousand-workers", SWEEP, "--workers", "1000")
explore_sweep(
    "sweep-every-design-invalid", SWEEP + "derived:\n  matrix.rows: '128 / 0'\n"
)  # exit 2 and no results file: the mistake is the file's, whatever the design
explore_sweep("sweep-db-folder", SWEEP, "--db", "{d}/db", extra={"db": FOLDER})
explore_sweep(
    "sweep-db-fifo",
    SWEEP,
    "--db",
    "{d}/s.duckdb",
    extra={"s.duckdb": FIFO},
)
case("explore-run-missing", "explore", "run", "{d}/nowhere.yaml")
case("explore-show-missing", "explore", "show", "{d}/nowhere.duckdb")
case("explore-show-binary", "explore", "show", "{d}/r.duckdb", files={"r.duckdb": BINARY})
case("explore-show-text", "explore", "show", "{d}/r.duckdb", files={"r.duckdb": SWEEP})
case("explore-no-subcommand-typo", "explore", "runn")

# --- validate
case("validate-bad-engine", "validate", "gemm", "--engine", "warp")
case("validate-bad-source", "validate", "train", "--source", "nope")
case("validate-unknown", "validate", "everything")

# --- systolic
SYSTOLIC = ("systolic", "16", "16", "16", "--rows", "4", "--cols", "4")
case("systolic-zero-m", "systolic", "0", "16", "16", "--rows", "4", "--cols", "4")
case("systolic-bad-dataflow", *SYSTOLIC, "--dataflow", "xx")
case("systolic-overflow-sram", *SYSTOLIC, "--sram", "1e400 B")
case("systolic-trace-folder", *SYSTOLIC, "--trace", "{d}/t", files={"t": FOLDER})
case("systolic-trace-fifo", *SYSTOLIC, "--trace", "{d}/t.json", files={"t.json": FIFO})
case(
    "systolic-verify-huge",
    "systolic",
    "100000",
    "100000",
    "100000",
    "--rows",
    "4",
    "--cols",
    "4",
    "--verify",
)

# --- compile, run, asm, disasm
case("compile-unknown-model", "compile", "nope", "-o", "{d}/p.tasm")
case("compile-bad-dtype", "compile", "gpt2-tiny", "--dtype", "int3", "-o", "{d}/p.tasm")
case("compile-out-folder", "compile", "gpt2-tiny", "-o", "{d}/p", files={"p": FOLDER})
case(
    "compile-input-binary",
    "compile",
    "gpt2-tiny",
    "--input",
    "{d}/in.txt",
    "-o",
    "{d}/p.tasm",
    files={"in.txt": BINARY},
)
case("run-unknown-target", "run", "nope")
case("run-negative-seed", "run", "gpt2-tiny", "--seed", "-1")
case("run-binary-program", "run", "{d}/p.tasm", files={"p.tasm": BINARY})
case("run-truncated-binary", "run", "{d}/p.tbin", files={"p.tbin": b"TGRS\x01\x00"})
case("run-garbage-assembly", "run", "{d}/p.tasm", files={"p.tasm": "this is not assembly\n"})
case("run-input-binary", "run", "gpt2-tiny", "--input", "{d}/in.txt", files={"in.txt": BINARY})
case("asm-bad-syntax", "asm", "{d}/p.tasm", "-o", "{d}/p.tbin", files={"p.tasm": "mov r1,, r2\n"})
case("asm-binary-source", "asm", "{d}/p.tasm", "-o", "{d}/p.tbin", files={"p.tasm": BINARY})
case(
    "asm-out-missing-folder",
    "asm",
    "{d}/p.tasm",
    "-o",
    "{d}/missing/p.tbin",
    files={"p.tasm": "halt\n"},
)
case("disasm-text-file", "disasm", "{d}/p.tbin", files={"p.tbin": "not a binary\n"})
case("disasm-truncated", "disasm", "{d}/p.tbin", files={"p.tbin": b"TGRS\x01"})
case(
    "disasm-out-folder",
    "disasm",
    "{d}/p.tbin",
    "-o",
    "{d}/o",
    files={"p.tbin": b"TGRS\x01", "o": FOLDER},
)

# tester 1
case("set-superscript-index", "show", "h100-sxm", "--set", "memory.sram[\u00b2].capacity=1 MB")
case("set-unbalanced-bracket", "show", "h100-sxm", "--set", "memory.sram[0.capacity=1 MB")
case("set-very-deep-path", "show", "h100-sxm", "--set", ".".join(["a"] * 50_000) + "=1")
train("train-num-chips-1e18", "--num-chips", str(10**18), codes=(2, 3))
NEOX = {
    "model_type": "gpt_neox", "hidden_size": 512, "num_hidden_layers": 6,
    "num_attention_heads": 8, "intermediate_size": 2048, "vocab_size": 50304,
    "max_position_embeddings": 2048, "hidden_act": "gelu", "rotary_pct": 0.25,
}  # fmt: skip
case(
    "config-rotary-pct-string",
    "infer",
    "{d}/cfg.json",
    files={"cfg.json": json.dumps({**NEOX, "rotary_pct": "0.5"})},
)
case(
    "config-rotary-pct-bool",
    "infer",
    "{d}/cfg.json",
    files={"cfg.json": json.dumps({**NEOX, "rotary_pct": True})},
)
serve_trace(
    "trace-bool-length", "t.jsonl", '{"arrival_s": 0, "input_len": true, "output_len": 3}\n'
)
serve_trace(
    "trace-int-too-long",
    "t.jsonl",
    '{"arrival_s": 0, "input_len": ' + HUGE_INT + ', "output_len": 3}\n',
)
serve_trace("trace-longer-than-context", "trace.csv", TRACE_HEAD + "0,100000,3\n")
case("trace-device", *SERVE, "--trace", "/dev/zero")
case("systolic-dram-bandwidth-tiny", *SYSTOLIC, "--dram-bandwidth", "1e-300")
case("systolic-dram-bandwidth-inf", *SYSTOLIC, "--dram-bandwidth", "1e400")
case(
    "chip-base-chain-too-deep",
    "show",
    "{d}/c1.yaml",
    files={f"c{i}.yaml": f"base: c{i + 1}.yaml\n" for i in range(1, 11)},
)

# tester 2
case("compare-chips-only-commas", "compare", "--chips", ",,", "--out", "")
case("compare-assumptions-folder", *COMPARE, "--assumptions", "{d}/a", files={"a": FOLDER})
case("compare-out-trailing-slash", *COMPARE_RUN, "--out", "{d}/report.html/")
compare_workload("workload-tokens-overflow", TRAIN_WORKLOAD + "tokens: 1e400\n")
compare_workload("workload-zero-slo", SERVE_WORKLOAD + "slo_tpot: 0 ms\n")
compare_workload("workload-plan-tp-not-dividing", TRAIN_WORKLOAD + "plan: {tp: 3}\n")
compare_workload("workload-plan-huge-tp", TRAIN_WORKLOAD + f"plan: {{tp: {HUGE}}}\n")
compare_workload("workload-plan-micro-batch-too-big", TRAIN_WORKLOAD + "plan: {micro_batch: 64}\n")
explore_sweep("sweep-derived-reads-itself", SWEEP + "derived:\n  x: 'x + 1'\n")
explore_sweep("sweep-derived-reads-later", SWEEP + "derived:\n  x: 'y + 1'\n  y: '2'\n")
explore_sweep(
    "sweep-derived-deep", SWEEP + "derived:\n  x: '" + "(" * 3000 + "1" + ")" * 3000 + "'\n"
)
explore_sweep("sweep-derived-long-sum", SWEEP + "derived:\n  x: '" + "+".join("1" * 5000) + "'\n")
explore_sweep("sweep-seed-huge", SWEEP.replace("seed: 0", f"seed: {HUGE}"))
explore_sweep("sweep-workload-seed-negative", SWEEP.replace("rate: 8", "rate: 8, seed: -1"))
explore_sweep("sweep-rate-overflow", SWEEP.replace("rate: 8", "rate: 1e400"))
explore_sweep(
    "sweep-huge-num-requests", SWEEP.replace("num_requests: 20", "num_requests: 2000000000")
)
explore_sweep("sweep-long-name", SWEEP.replace("name: s", "name: " + "n" * 100_000))
explore_sweep(
    "sweep-db-sqlite", SWEEP, "--db", "{d}/r.db", extra={"r.db": b"SQLite format 3\0" + bytes(4000)}
)

# tester 3
TASM = ".program x\n.chip tigris-1\n.mode bf16\n.hbm 4096\n"


def run_tasm(id: str, text: str, **kwargs: object) -> None:
    case(id, "run", "{d}/p.tasm", "--quiet", files={"p.tasm": text}, **kwargs)  # type: ignore[arg-type]


run_tasm("tasm-hbm-5000-digits", TASM.replace(".hbm 4096", ".hbm " + HUGE_INT))
run_tasm("tasm-segment-superscript-bytes", TASM + ".segment a 0x0 \u00b2\n")
run_tasm("tasm-hbm-twice", TASM + ".hbm 8192\n")
run_tasm("tasm-input-twice", TASM + ".input ids 0x0 i32 [4,1]\n.input ids 0x10 i32 [4,1]\n")
run_tasm("tasm-segment-twice", TASM + ".segment a 0x0 16\n.segment a 0x10 16\n")
case(
    "asm-output-twice",
    "asm",
    "{d}/p.tasm",
    "-o",
    "{d}/p.tbin",
    files={"p.tasm": TASM + ".output o 0x0 bf16 [4,4]\n.output o 0x0 bf16 [4,4]\n"},
)
case("run-input-200k-sequences", "run", "gpt2-tiny", "--input", "{d}/i.txt",
     files={"i.txt": "1 2\n" * 200_000})  # fmt: skip
case("run-minilm-100k-sentences", "run", "minilm", "--input", "{d}/i.txt",
     files={"i.txt": "hello world\n" * 100_000})  # fmt: skip


# ---------------------------------------------------------------------------- running


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    before: dict[str, tuple]
    after: dict[str, tuple]
    seconds: float = 0.0


def _write_inputs(folder: Path, files: dict[str, object]) -> None:
    folder.mkdir(parents=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, Folder):
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content), encoding="utf-8")


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: its inode, kind and (for a file) a digest of its bytes.
    A FIFO is never opened."""
    found: dict[str, tuple] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(folder))] = (info.st_ino, "file", digest)
        else:
            found[str(path.relative_to(folder))] = (info.st_ino, stat.S_IFMT(info.st_mode), None)
    return found


def _run(case: Case, folder: Path) -> Outcome:
    _write_inputs(folder, case.files)
    before = _snapshot(folder)
    args = [arg.replace("{d}", str(folder)) for arg in case.args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tigris", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=XFAIL_TIMEOUT_S if case.xfail else TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        outcome = Outcome(done.returncode, done.stdout, done.stderr, before, {})
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode(errors="replace") if expired.stderr else ""
        outcome = Outcome(None, "", stderr, before, {})
    outcome.seconds = time.monotonic() - started
    outcome.after = _snapshot(folder)
    return outcome


def _param(case: Case):  # type: ignore[no-untyped-def]
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The selected cases, started two at a time in the order the tests run."""
    selected = [
        item.callspec.params["bad"]
        for item in request.session.items
        if item.path == Path(__file__) and hasattr(item, "callspec")
    ]
    root = tmp_path_factory.mktemp("bad-input")
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures: dict[str, Future[Outcome]] = {
        bad.id: pool.submit(_run, bad, root / f"case{index:03d}")
        for index, bad in enumerate(selected)
    }
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def test_the_corpus_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 120
    commands = {c.args[0] for c in CASES}
    assert {
        "show", "gemm", "systolic", "train", "infer", "serve", "compare", "explore",
        "validate", "compile", "run", "asm", "disasm", "chips", "models",
    } <= commands  # fmt: skip


@pytest.mark.parametrize("bad", [_param(c) for c in CASES])
def test_bad_input_is_a_short_user_error(bad: Case, outcomes: dict[str, Future]) -> None:
    result: Outcome = outcomes[bad.id].result()
    shown = (
        f"tigris {' '.join(a[:60] for a in bad.args)}\nexit {result.returncode} after {result.seconds:.1f} s\n"
        + (f"stderr: {result.stderr[-2000:]}")
    )
    assert result.returncode is not None, f"timed out after {result.seconds:.0f} s\n{shown}"
    assert "Traceback" not in result.stderr, shown
    assert result.returncode in bad.codes, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= MAX_LINES, shown
    assert len(result.stderr) <= MAX_MESSAGE_CHARS, shown
    assert result.after == result.before, (
        f"files changed: {result.before} -> {result.after}\n{shown}"
    )
