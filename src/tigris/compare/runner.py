"""Run every workload on every chip: the comparison behind `tigris compare`.

Cells are independent and pure, so they run in worker processes (fork: the imports and
loaded presets are shared), the slowest (training plan searches) first. Each cell uses
the cached evaluation paths of its module: one StepModel per training search (op times
and per-micro-batch compute shared by every plan), one StepTimer per serving layout.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from tigris.compare.cell import Cell, with_interval
from tigris.compare.chips import (
    ChipSummary,
    GivenChip,
    PublishedCheck,
    published_checks,
    resolve_chips,
    summarize_chip,
)
from tigris.compare.serve import evaluate_serve
from tigris.compare.train import evaluate_train
from tigris.compare.workloads import DEFAULT_CHIPS, Workload
from tigris.cost import Assumptions
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip
from tigris.worker_processes import worker_initializer
from tigris.workload.presets import load_model


@dataclass(frozen=True)
class Comparison:
    """Cells by (workload name, chip label), chip summaries, published checks, assumptions.
    A chip's label is its id, or `id (file)` for a file that could be taken for another
    chip (see tigris.compare.chips.GivenChip); `specs` holds the chip behind each label."""

    chips: tuple[str, ...]
    workloads: tuple[Workload, ...]
    cells: dict[tuple[str, str], Cell]
    summaries: dict[str, ChipSummary]
    checks: tuple[PublishedCheck, ...]
    assumptions: Assumptions
    chips_by_workload: dict[str, tuple[str, ...]] = field(default_factory=dict)
    specs: dict[str, GivenChip] = field(default_factory=dict)

    def capex_fallbacks(self) -> list[str]:
        """Chips asked to be costed at their purchase price that have none (their capex is
        the manufacturing cost instead)."""
        return [label for label, s in self.summaries.items() if s.capex_fallback]

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
            "chip_files": {label: given.to_dict() for label, given in self.specs.items()},
            "chip_estimates": {chip: s.to_dict() for chip, s in self.summaries.items()},
            "capex_fallback": self.capex_fallbacks(),
            "published_checks": [check.to_dict() for check in self.checks],
            "assumptions": [
                {"key": key, "value": value, "source": source}
                for key, value, source in self.assumptions.describe()
            ],
        }


def evaluate_cell(chip: Chip, workload: Workload, assumptions: Assumptions) -> Cell:
    if workload.kind == "train":
        cell = evaluate_train(chip, workload, assumptions)  # type: ignore[arg-type]
    else:
        cell = evaluate_serve(chip, workload, assumptions)  # type: ignore[arg-type]
    return with_interval(cell, chip, workload.dtype)


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
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Every workload on every chip (plus each workload's `also_on` chips when the chip
    list is the default). Chips are ids or YAML files (see Comparison for the row labels).
    Unknown chip or model ids, bad chip files, and a chip given twice raise SpecError
    before any work. `progress(done, total)` is called as (workload, chip) cells finish."""
    loaded, by_workload = _load_chips(chips, workloads, default_chips)
    # training cells first: they are the slowest, so the pool does not end on one of them
    order = [
        (label, workload)
        for workload in sorted(workloads, key=lambda w: w.kind != "train")
        for label in by_workload[workload.name]
    ]
    tasks = [(loaded[label].chip, workload, assumptions) for label, workload in order]
    results = _run_cells(tasks, workers, progress)
    cells = {
        (cell.workload, label): replace(cell, chip_id=label)
        for cell, (label, _) in zip(results, order, strict=True)
    }
    all_chips = tuple(loaded)
    return Comparison(
        chips=all_chips,
        workloads=tuple(workloads),
        cells=cells,
        summaries={label: summarize_chip(loaded[label].chip, assumptions) for label in all_chips},
        checks=tuple(published_checks(assumptions)),
        assumptions=assumptions,
        chips_by_workload=by_workload,
        specs=loaded,
    )


def _load_chips(
    chips: list[str] | tuple[str, ...],
    workloads: list[Workload] | tuple[Workload, ...],
    default_chips: bool,
) -> tuple[dict[str, GivenChip], dict[str, tuple[str, ...]]]:
    """(chips by label, the chip labels of each workload). Loads every chip and model up
    front so that a bad id or file fails before any cell runs."""
    loaded = {given.label: given for given in resolve_chips(chips)}
    given_labels = tuple(loaded)
    by_workload: dict[str, tuple[str, ...]] = {}
    for workload in workloads:
        load_model(workload.model)
        extra = [c for c in workload.also_on if c not in loaded] if default_chips else []
        for chip_id in extra:
            loaded[chip_id] = GivenChip(chip_id, load_chip(chip_id), None)
        by_workload[workload.name] = given_labels + tuple(extra)
    return loaded, by_workload


def _run_cells(
    tasks: list[tuple[Chip, Workload, Assumptions]],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[Cell]:
    """Each task's cell, in task order: in this process for one worker, else in a pool."""
    count = workers if workers is not None else worker_count(len(tasks))
    report = progress or (lambda done, total: None)
    report(0, len(tasks))
    if count <= 1:
        results = []
        for task in tasks:
            results.append(_run(task))
            report(len(results), len(tasks))
        return results
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=count,
        mp_context=context,
        initializer=worker_initializer,  # workers die with this process
        initargs=(os.getpid(),),
    ) as pool:
        futures = [pool.submit(_run, task) for task in tasks]
        for done, _ in enumerate(as_completed(futures), 1):
            report(done, len(tasks))
        return [future.result() for future in futures]


__all__ = ["DEFAULT_CHIPS", "Comparison", "evaluate_cell", "run_comparison"]
