"""The on-disk cache of validated specs (tigris.io.spec_cache) changes nothing but time:
a spec from an entry equals the one validated from its files, field for field and bit for
bit; an edit of the file or of its `base:`, a corrupted entry or a cache turned off or
unwritable all give the freshly validated spec; a failing file stores nothing."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pytest

from cli_run import assert_user_error, run_tigris
from tigris.errors import SpecError
from tigris.hardware import presets
from tigris.hardware.chip import Chip
from tigris.io import spec_cache
from tigris.workload import presets as model_presets


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(folder))
    monkeypatch.delenv(spec_cache.NO_CACHE_ENV, raising=False)
    presets._load_file.cache_clear()  # the in-process memo would hide the disk
    model_presets._load_file.cache_clear()
    yield folder / "specs"
    presets._load_file.cache_clear()
    model_presets._load_file.cache_clear()


def _fresh(name: str | Path) -> Chip:
    """A chip validated from its files, as without the cache."""
    presets._load_file.cache_clear()
    return presets._validated(Chip, "chip", str(presets._resolve("chip", str(name))))[0]


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def _same(a: Chip, b: Chip) -> None:
    """Equal field for field, and every float the same bits (pickle's, compared as such)."""
    assert a == b
    assert pickle.dumps(a.model_dump()) == pickle.dumps(b.model_dump())


def test_an_entry_gives_the_validated_spec(cache_dir: Path) -> None:
    first = presets.load_chip("h100-sxm")  # validated, stored
    assert len(_entries(cache_dir)) == 1
    presets._load_file.cache_clear()
    second = presets.load_chip("h100-sxm")  # from the entry
    assert second is not first
    _same(second, first)
    _same(second, _fresh("h100-sxm"))
    # its value JSON (the memos' key) comes with it, the JSON of the fresh spec
    assert second.__dict__["_derived_value_json"] == _fresh("h100-sxm").model_dump_json()
    model_first = model_presets.load_model("llama3-8b")
    model_presets._load_file.cache_clear()
    model_second = model_presets.load_model("llama3-8b")
    assert model_second is not model_first and model_second == model_first
    assert model_second.__dict__["_derived_value_json"] == model_first.model_dump_json()
    assert model_second.num_params == model_first.num_params


def _write_chip(path: Path, base: str, bandwidth: str) -> None:
    path.write_text(f"base: {base}\nid: my-chip\nmemory: {{dram: {{bandwidth: {bandwidth}}}}}\n")


def test_an_edited_file_or_base_misses(cache_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("base: h100-sxm\nid: my-base\nname: Base\n")
    chip = tmp_path / "chip.yaml"
    _write_chip(chip, "base.yaml", "4 TB/s")
    assert presets.load_chip(chip).dram_bandwidth_bytes_per_s == 4e12
    _write_chip(chip, "base.yaml", "5 TB/s")  # the file itself
    presets._load_file.cache_clear()
    assert presets.load_chip(chip).dram_bandwidth_bytes_per_s == 5e12
    base.write_text("base: h100-sxm\nid: my-base\nname: Other\n")  # its base
    presets._load_file.cache_clear()
    assert presets.load_chip(chip).name == "Other"
    assert len(_entries(cache_dir)) == 1  # one entry per file, overwritten


def test_a_corrupted_entry_is_ignored_and_rewritten(cache_dir: Path) -> None:
    presets.load_chip("h100-sxm")
    (entry,) = _entries(cache_dir)
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF  # a flipped byte in the pickle: its digest no longer matches
    entry.write_bytes(bytes(data))
    presets._load_file.cache_clear()
    _same(presets.load_chip("h100-sxm"), _fresh("h100-sxm"))
    assert entry.read_bytes() != bytes(data)


def test_other_code_misses(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    presets.load_chip("h100-sxm")
    (entry,) = _entries(cache_dir)
    header = json.loads(entry.read_bytes().split(b"\n")[1])
    assert header["code"] == spec_cache.code_fingerprint()
    monkeypatch.setattr(spec_cache, "code_fingerprint", lambda: "other code")
    loads = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: loads.append(a) or None)
    presets._load_file.cache_clear()
    assert presets.load_chip("h100-sxm").id == "h100-sxm"
    assert loads == []  # the entry of other code is never unpickled


def test_off_or_unwritable_cache_stores_nothing(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(spec_cache.NO_CACHE_ENV, "1")
    _same(presets.load_chip("h100-sxm"), _fresh("h100-sxm"))
    assert _entries(cache_dir) == []
    monkeypatch.delenv(spec_cache.NO_CACHE_ENV)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(blocker))
    presets._load_file.cache_clear()
    _same(presets.load_chip("h100-sxm"), _fresh("h100-sxm"))


def test_a_failing_file_stores_nothing(cache_dir: Path, tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    _write_chip(chip, "h100-sxm", "-4 TB/s")
    with pytest.raises(SpecError):
        presets.load_chip(chip)
    assert _entries(cache_dir) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_cache_folder_is_private(cache_dir: Path) -> None:
    presets.load_chip("h100-sxm")
    assert os.stat(cache_dir).st_mode & 0o077 == 0


def test_gemm_prints_the_same_with_and_without_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    args = ("gemm", "8192", "8192", "8192", "--chip", "h100-sxm", "--json")
    outputs = [run_tigris(*args), run_tigris(*args)]  # the second from the entry
    monkeypatch.setenv(spec_cache.NO_CACHE_ENV, "1")
    outputs.append(run_tigris(*args))
    for result in outputs:
        assert result.returncode == 0 and "Traceback" not in result.stderr
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout
    assert len(list((tmp_path / "cache" / "specs").glob("*.pickle"))) == 1


def test_a_bad_chip_file_is_still_a_short_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    chip = tmp_path / "chip.yaml"
    _write_chip(chip, "h100-sxm", "fast")
    for _ in range(2):  # nothing stored the first time, the same error the second
        result = run_tigris("gemm", "64", "64", "64", "--chip", str(chip))
        assert result.returncode == 2
        assert_user_error(result, "chip.yaml", "bandwidth")
    assert not list((tmp_path / "cache").rglob("*.pickle"))
