"""A user's model for tigris compile / run: a Hugging Face config.json (random weights) or a
safetensors checkpoint, for the GPT-2, Llama (Mistral) and BERT families.

The front end's graph is checked against an independent numpy forward of the checkpoint
(tests/toolchain/executor/hf_reference.py, written from the transformers modelling code), so the
tensor names, transposes and splits are right; the CLI runs in a subprocess as a user runs
it, and refuses what the compiler cannot lower by name (exit 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hf_reference import bert_forward, gpt2_forward, llama_forward, random_checkpoint

from cli_run import assert_user_error, run_tigris
from tigris.toolchain.compiler import run_float
from tigris.toolchain.frontends import hf
from tigris.toolchain.frontends.safetensors_file import write_safetensors

CONFIGS = {
    "gpt2": {
        "model_type": "gpt2",
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 2,
        "n_positions": 64,
        "vocab_size": 200,
    },
    "llama": {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 96,
        "vocab_size": 200,
        "max_position_embeddings": 128,
        "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5,
    },
    "bert": {
        "model_type": "bert",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 96,
        "vocab_size": 200,
        "max_position_embeddings": 64,
    },
}
FORWARDS = {"gpt2": gpt2_forward, "llama": llama_forward, "bert": bert_forward}
SEQS = [[1, 5, 7, 9, 3], [10, 20, 30, 40, 50, 60, 70]]


def tigris(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_tigris(*args, cwd=cwd)


def digest(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["digest"]


def checkpoint(folder: Path, kind: str, seed: int, config: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = config or CONFIGS[kind]
    (folder / "config.json").write_text(json.dumps(config))
    write_safetensors(folder / "model.safetensors", random_checkpoint(kind, config, seed))
    return folder


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_the_graph_computes_what_transformers_computes(tmp_path: Path, kind: str) -> None:
    folder = checkpoint(tmp_path / kind, kind, seed=1)
    model = hf.resolve_model(str(folder))
    graph = hf.model_graph(model, tuple(len(s) for s in SEQS))
    ours = run_float(graph, np.concatenate(SEQS))[graph.output]
    reference = FORWARDS[kind](CONFIGS[kind], random_checkpoint(kind, CONFIGS[kind], 1), SEQS)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6 * np.abs(reference).max())


def test_a_sharded_checkpoint_reads_like_one_file(tmp_path: Path) -> None:
    one = checkpoint(tmp_path / "one", "llama", seed=2)
    tensors = random_checkpoint("llama", CONFIGS["llama"], 2)
    names = sorted(tensors)
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    shutil.copy(one / "config.json", sharded)
    halves = {"a.safetensors": names[::2], "b.safetensors": names[1::2]}
    for file, part in halves.items():
        write_safetensors(sharded / file, {n: tensors[n] for n in part})
    weight_map = {n: f for f, part in halves.items() for n in part}
    (sharded / hf.INDEX_FILE).write_text(json.dumps({"weight_map": weight_map}))
    lengths = (6,)
    graphs = [hf.model_graph(hf.resolve_model(str(p)), lengths) for p in (one, sharded)]
    for name, value in graphs[0].constants.items():
        assert np.array_equal(value, graphs[1].constants[name]), name


def test_a_checkpoints_weights_are_used(tmp_path: Path) -> None:
    """Two weight files give two digests; the same file twice (and the same file named
    directly) gives the same digest; the executor's bf16 output follows the reference."""
    a = checkpoint(tmp_path / "a", "llama", seed=3)
    b = checkpoint(tmp_path / "b", "llama", seed=4)
    (tmp_path / "ids.txt").write_text("\n".join(" ".join(map(str, s)) for s in SEQS) + "\n")
    run = ("run", "--json", "--input", "ids.txt")
    first = digest(tigris(run[0], str(a), *run[1:], cwd=tmp_path))
    assert digest(tigris(run[0], str(b), *run[1:], cwd=tmp_path)) != first
    assert digest(tigris(run[0], str(a), *run[1:], cwd=tmp_path)) == first
    direct = str(a / "model.safetensors")
    assert digest(tigris(run[0], direct, *run[1:], cwd=tmp_path)) == first
    done = tigris("compile", str(a), "-o", "a.tbin", "--input", "ids.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert digest(tigris("run", "a.tbin", "--json", "--input", "ids.txt", cwd=tmp_path)) == first


def test_the_executor_follows_the_reference(tmp_path: Path) -> None:
    from tigris.hardware import load_chip
    from tigris.toolchain.compiler import compile_graph
    from tigris.toolchain.executor.run import execute
    from tigris.toolchain.isa.machine import machine_of

    folder = checkpoint(tmp_path / "g", "gpt2", seed=5)
    graph = hf.model_graph(hf.resolve_model(str(folder)), tuple(len(s) for s in SEQS))
    machine = machine_of(load_chip("tigris-1"))
    compiled = compile_graph(graph, machine, "bf16")
    ids = np.concatenate(SEQS).astype(np.int32)
    result = execute(compiled.program, compiled.image, machine, {"ids": ids})
    ours = result.outputs[graph.output].astype(np.float64)
    reference = gpt2_forward(CONFIGS["gpt2"], random_checkpoint("gpt2", CONFIGS["gpt2"], 5), SEQS)
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1)
    cosine /= np.linalg.norm(reference, axis=1)
    assert cosine.min() > 0.999


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_a_config_json_compiles_with_random_weights(tmp_path: Path, kind: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIGS[kind]))
    done = tigris("compile", "config.json", "-o", "p.tasm", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    compiled = digest(tigris("run", "p.tasm", "--json", cwd=tmp_path))
    (tmp_path / "zeros.txt").write_text("0 " * 16 + "\n" + "0 " * 32 + "\n")
    direct = tigris(
        "run", "config.json", "--json", "--seed", "3", "--input", "zeros.txt", cwd=tmp_path
    )
    assert digest(direct) == compiled  # run PROG feeds zeros of the compiled shape
    other = tigris(
        "run", "config.json", "--json", "--seed", "4", "--input", "zeros.txt", cwd=tmp_path
    )
    assert digest(other) != compiled


LLAMA = CONFIGS["llama"]


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (
            LLAMA | {"model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2},
            ("mixture of experts",),
        ),
        (
            LLAMA | {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}},
            ("rope_scaling", "llama3"),
        ),
        (LLAMA | {"hidden_act": "relu"}, ("hidden_act", "relu")),
        (
            CONFIGS["gpt2"] | {"activation_function": "quick_gelu"},
            ("activation_function", "quick_gelu"),
        ),
        (
            CONFIGS["gpt2"] | {"scale_attn_by_inverse_layer_idx": True},
            ("scale_attn_by_inverse_layer_idx",),
        ),
        (CONFIGS["bert"] | {"position_embedding_type": "relative_key"}, ("relative_key",)),
        (LLAMA | {"model_type": "t5"}, ("model_type", "t5", "supported")),
        ({"model_type": "gpt2", "n_layer": 2}, ("n_embd", "missing")),
        (LLAMA | {"model_type": "mistral", "sliding_window": 20}, ("sliding_window", "32 tokens")),
        (
            LLAMA | {"hidden_size": 8192, "num_hidden_layers": 48, "intermediate_size": 28672},
            ("host memory", "tiny configs"),
        ),
        (
            CONFIGS["gpt2"]
            | {
                "n_embd": 768,
                "n_head": 12,
                "n_layer": 12,
                "vocab_size": 50257,
                "n_positions": 1024,
            },
            ("min to compile", "--max-minutes"),
        ),
        (LLAMA | {"head_dim": 256}, ("head_dim 256",)),
    ],
)
def test_what_cannot_be_lowered_is_named(tmp_path: Path, config: dict, fragments) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "ids.txt").write_text("1 " * 1000)
    args = (
        ("--input", "ids.txt") if "n_positions" in config and config["n_positions"] == 1024 else ()
    )
    assert_user_error(tigris("run", "config.json", *args, cwd=tmp_path), "config.json", *fragments)


def test_a_sliding_window_that_covers_the_input_is_exact(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(LLAMA | {"model_type": "mistral", "sliding_window": 40})
    )
    done = tigris("run", "config.json", cwd=tmp_path)  # default inputs: 16 and 32 tokens
    assert done.returncode == 0, done.stderr


def test_bad_checkpoints(tmp_path: Path) -> None:
    good = checkpoint(tmp_path / "good", "gpt2", seed=1)
    tensors = random_checkpoint("gpt2", CONFIGS["gpt2"], 1)
    missing = tmp_path / "missing"
    missing.mkdir()
    shutil.copy(good / "config.json", missing)
    write_safetensors(
        missing / "model.safetensors", {k: v for k, v in tensors.items() if "ln_f" not in k}
    )
    shaped = tmp_path / "shaped"
    shaped.mkdir()
    shutil.copy(good / "config.json", shaped)
    write_safetensors(
        shaped / "model.safetensors",
        tensors | {"transformer.wte.weight": tensors["transformer.wte.weight"][:100]},
    )
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(good / "config.json", cut)
    (cut / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:5000])
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(good / "config.json", bare)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(good / "model.safetensors", alone)
    for target, fragments in [
        (missing, ("ln_f.weight",)),
        (shaped, ("transformer.wte.weight", "[100, 64]", "[200, 64]")),
        (cut, ("model.safetensors",)),
        (bare, ("model.safetensors", "config.json")),
        (alone / "model.safetensors", ("config.json",)),
    ]:
        assert_user_error(tigris("run", str(target), cwd=tmp_path), *fragments)
