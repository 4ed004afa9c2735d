"""Sweep files the explore tests write: a synthetic (ZDT1) space, a tile-engine space."""

from __future__ import annotations

from pathlib import Path

ZDT1 = """
name: zdt1
base: tigris-1
axes:
  matrix.clock: {range: ['1 GHz', '2 GHz'], num: 11}
  matrix.rows: [16, 32, 64, 128]
  matrix.cols: [16, 32, 64]
workloads:
  - {task: synthetic, function: zdt1, inputs: [matrix.clock, matrix.rows, matrix.cols]}
objectives:
  - {metric: f1, goal: min}
  - {metric: f2, goal: min}
search: {sampler: SAMPLER, seed: 0, batch: BATCH}
"""

PREFILL = """
name: prefill
base: tigris-1
axes:
  matrix.rows: {log_range: [32, 256], factor: 2}
  matrix.cols: {log_range: [32, 256], factor: 2}
  matrix.clock: {range: ['1.0 GHz', '2.0 GHz'], step: '0.25 GHz'}
  memory.dram.bandwidth: {log_range: ['2 TB/s', '8 TB/s'], num: NUM_BW}
derived:
  pes: matrix.num_cores * matrix.arrays_per_core * matrix.rows * matrix.cols
constraints:
  - {expr: pes, max: 600000}
workloads:
  - {name: prefill-8b, task: prefill, model: llama3-8b, batch: 1, prompt_len: 512}
  - {name: decode-8b, task: decode, model: llama3-8b, batch: 8, kv_len: 1024, weight: 0.5}
objectives:
  - {metric: tokens_per_s, goal: max}
  - {metric: latency_s, goal: min, workload: prefill-8b}
search: {sampler: grid, batch: BATCH}
"""


def write_sweep(folder: Path, text: str, name: str = "sweep.yaml", **values: object) -> Path:
    for key, value in values.items():
        text = text.replace(key.upper(), str(value))
    path = folder / name
    path.write_text(text)
    return path
