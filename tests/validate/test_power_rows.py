"""Rows of power.csv that need more than a serving sweep: mxfp4 checkpoints, hardware
spellings (the one hardware_names rule), MaxQ caps and the MLPerf Training LoRA rows."""

from __future__ import annotations

import subprocess
import sys

from tigris.validate.power import map_row, read_power_rows


def _raw(**changes: str) -> dict[str, str]:
    row = next(r for r in read_power_rows() if r.row_id == "MLE3-386").raw
    return dict(row) | changes


def test_an_mxfp4_row_runs_fp4_weights_with_bf16_compute() -> None:
    setup, reason = map_row(_raw(model="openai/gpt-oss-20b", precision="mxfp4"), 1)
    assert setup is not None, reason
    assert (setup.model_id, setup.weight_dtype, setup.dtype) == ("gpt-oss-20b", "fp4", "bf16")
    assert any("mxfp4" in a for a in setup.assumed)


def test_a_new_hardware_spelling_maps_through_the_hardware_name_rules() -> None:
    setup, reason = map_row(_raw(hardware="NVIDIA GH200 GPU"), 1)
    assert setup is not None, reason
    assert setup.chip_id == "gh200"
    _, reason = map_row(_raw(hardware="Acme XPU 9000"), 1)
    assert "chip not in the catalog" in reason


def test_lora_rows_map_the_published_plan_or_say_why_not() -> None:
    rows = {r.row_id: r for r in read_power_rows() if r.row_id.startswith("MLPT")}
    one_node = rows["MLPT-001"].setup
    assert one_node is not None and one_node.kind == "train"
    assert one_node.scope == "node_wall" and dict(one_node.plan)["finetune"] == "lora"
    assert "global batch" in rows["MLPT-002"].reason and "DC-side" in rows["MLPT-005"].reason


def test_validate_power_scores_the_lora_and_mxfp4_rows() -> None:
    done = subprocess.run([sys.executable, "-m", "tigris", "validate", "power", "--json",
                           "--quiet"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-400:]
    import json

    rows = {r["id"]: r for r in json.loads(done.stdout)["rows"]}
    assert "MLPT-001" in rows and rows["MLPT-001"]["scope"] == "node_wall"
    assert any(r["model"].startswith("gpt-oss") for r in rows.values())


def test_every_hardware_name_goes_through_the_one_rule() -> None:
    from tigris.validate import power
    from tigris.validate.hardware_names import chip_for_hardware

    assert not hasattr(power, "CHIP_IDS")  # no second name -> preset table
    for row in read_power_rows():
        if row.setup is not None:
            assert row.setup.chip_id == chip_for_hardware(row.chip_label), row.row_id


def test_a_maxq_row_without_a_stated_limit_gets_the_maxq_config_cap(tmp_path) -> None:
    """Dell's MaxQ llama2-70b rows state no power_limit; the MaxQ harness config they
    reuse caps each H100 at 450 W. Scored through `validate power --data`."""
    import csv
    import json

    shipped = read_power_rows()
    keep = {"MLPI-018", "MLPI-014", "MLE3-386", "MLE3-387", "MLE3-388"}
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(shipped[0].raw))
        writer.writeheader()
        writer.writerows(r.raw for r in shipped if r.row_id in keep)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-m", "tigris", "validate", "power", "--data",
                           str(path), "--json", "--quiet"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-400:]
    rows = {r["id"]: r for r in json.loads(done.stdout)["rows"]}
    dell = rows["MLPI-018"]
    assert dell["power_cap_w"] == 450.0 and any("MaxQ cap" in a for a in dell["assumed"])
    assert rows["MLPI-014"]["power_cap_w"] == 450.0 and path.read_bytes() == before
    # at the wall within 15 % in-sample (host share fitted on these two wall rows)
    assert abs(dell["power_err_in_sample"]) < 0.15
