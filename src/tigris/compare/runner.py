"""Run every workload on every chip: the comparison behind `tigris compare`.

Cells are independent and pure, so they run in worker processes (fork: the imports and
loaded presets are shared), the slowest (training plan searches) first. Each cell uses
the cached evaluation paths of its module: one StepModel per training search (op times
and per-micro-batch compute shared by every plan), one StepTimer per serving layout.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from tigris.compare.cell import Cell
from tigris.compare.chips import ChipSummary, PublishedCheck, published_checks, summarize_chip
from tigris.compare.serve import evaluate_serve
from tigris.compare.train import evaluate_train
from tigris.compare.workloads import DEFAULT_CHIPS, Workload
from tigris.cost import Assumptions
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip
from tigris.workload.presets import load_model


@dataclass(frozen=True)
class Comparison:
    """Cells by (workload name, chip id), chip summaries, published checks, assumptions."""

    chips: tuple[str, ...]
    workloads: tuple[Workload, ...]
    cells: dict[tuple[str, str], Cell]
    summaries: dict[str, ChipSummary]
    checks: tuple[PublishedCheck, ...]
    assumptions: Assumptions
    chips_by_workload: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def cells_of(self, workload: str) -> list[Cell]:
        return [self.cells[(workload, chip)] for chip in self.chips_by_workload[workload]]

    def to_dict(self) -> dict[str, object]:
        return {
            "chips": list(self.chips),
            "workloads": [
                {**w.model_dump(by_alias=False), "description": w.describe()}
                for w in self.workloads
            ],
            "results": {
                w.name: {
                    chip: self.cells[(w.name, chip)].to_dict()
                    for chip in self.chips_by_workload[w.name]
                }
                for w in self.workloads
            },
            "chip_estimates": {chip: s.to_dict() for chip, s in self.summaries.items()},
            "published_checks": [check.to_dict() for check in self.checks],
            "assumptions": [
                {"key": key, "value": value, "source": source}
                for key, value, source in self.assumptions.describe()
            ],
        }


def evaluate_cell(chip: Chip, workload: Workload, assumptions: Assumptions) -> Cell:
    if workload.kind == "train":
        return evaluate_train(chip, workload, assumptions)  # type: ignore[arg-type]
    return evaluate_serve(chip, workload, assumptions)  # type: ignore[arg-type]


def _run(args: tuple[Chip, Workload, Assumptions]) -> Cell:
    return evaluate_cell(*args)


def worker_count(num_tasks: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, num_tasks))


def run_comparison(
    chips: list[str] | tuple[str, ...],
    workloads: list[Workload] | tuple[Workload, ...],
    assumptions: Assumptions,
    *,
    default_chips: bool = False,
    workers: int | None = None,
) -> Comparison:
    """Every workload on every chip (plus each workload's `also_on` chips when the chip
    list is the default). Unknown chip or model ids raise SpecError before any work."""
    loaded = {chip_id: load_chip(chip_id) for chip_id in chips}
    by_workload: dict[str, tuple[str, ...]] = {}
    for workload in workloads:
        load_model(workload.model)
        extra = [c for c in workload.also_on if c not in loaded] if default_chips else []
        for chip_id in extra:
            loaded[chip_id] = load_chip(chip_id)
        by_workload[workload.name] = tuple(c.id for c in (loaded[i] for i in chips)) + tuple(extra)
    tasks = [
        (loaded[chip_id], workload, assumptions)
        for workload in sorted(workloads, key=lambda w: w.kind != "train")
        for chip_id in by_workload[workload.name]
    ]
    count = workers if workers is not None else worker_count(len(tasks))
    if count <= 1:
        results = [_run(task) for task in tasks]
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            results = list(pool.map(_run, tasks))
    cells = {(cell.workload, cell.chip_id): cell for cell in results}
    all_chips = tuple(loaded)
    return Comparison(
        chips=all_chips,
        workloads=tuple(workloads),
        cells=cells,
        summaries={chip_id: summarize_chip(loaded[chip_id], assumptions) for chip_id in all_chips},
        checks=tuple(published_checks(assumptions)),
        assumptions=assumptions,
        chips_by_workload=by_workload,
    )


__all__ = ["DEFAULT_CHIPS", "Comparison", "evaluate_cell", "run_comparison"]
