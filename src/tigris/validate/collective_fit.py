"""The fitter of the collective model's constants (tigris.parallel.collectives).

The model's fitted constants (`CollectiveConstants`) are the achieved share of link
bandwidth per tier and for NVLink SHARP, the start-up of one collective, and a factor on
each tier's published hop latency. `predict_with` evaluates the
model under any candidate set (the model takes its constants as an argument);
`fit_collectives` runs coordinate descent over a grid of each constant from START (the
hand-set values the model shipped before it was fitted), minimising the mean
|log(predicted / measured)| over the rows (symmetric: a 2x over- and under-prediction weigh
the same, and one wild row cannot buy a bad fit elsewhere), and records the row ids.

`python -m tigris.validate.collective_fit --write` fits on every packaged collective row
the model covers and writes tigris/parallel/data/collective_fit.json, the file the model
reads; without --write it prints the fit and says whether the file matches it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from math import log
from statistics import mean

import numpy as np

from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.collectives import (
    FIT_FILE,
    CollectiveConstants,
    CommGroup,
    collective_time_s,
    fitted_constants,
    sent_fraction,
)
from tigris.validate.collectives import CollectiveCase, cluster_with_node

# Where the descent starts: the constants the model carried, hand-set, before this fitter
# (bus efficiencies 0.80 / 0.95, 5 us start), with the scale-up efficiency for NVLS.
START = CollectiveConstants(
    scale_up_bus_efficiency=0.80,
    scale_out_bus_efficiency=0.95,
    nvls_bus_efficiency=0.80,
    collective_start_s=5e-6,
)
GRIDS = {
    "scale_up_bus_efficiency": np.round(np.arange(0.40, 1.001, 0.02), 3),
    "scale_out_bus_efficiency": np.round(np.arange(0.30, 1.001, 0.02), 3),
    "nvls_bus_efficiency": np.round(np.arange(0.30, 1.001, 0.02), 3),
    "collective_start_s": np.round(np.arange(0.0, 40.01, 1.0) * 1e-6, 9),
    # factors 1/4 to 16 on a geometric grid (a hop's latency is known within that)
    "scale_up_hop_factor": np.round(2.0 ** np.arange(-2.0, 4.001, 0.25), 4),
    "scale_out_hop_factor": np.round(2.0 ** np.arange(-2.0, 4.001, 0.25), 4),
}


def shipped() -> CollectiveConstants:
    """The constants the model ships (data/collective_fit.json)."""
    return fitted_constants()


@lru_cache(maxsize=512)
def _group(system_id: str, ranks_per_node: int, ranks: int) -> CommGroup:
    cluster = cluster_with_node(load_cluster(system_id), ranks_per_node)
    return CommGroup(cluster, load_chip(cluster.chip), ranks)


def predict_with(case: CollectiveCase, constants: CollectiveConstants | None = None) -> float:
    """The case's metric (seconds or nccl-tests bus bandwidth) under `constants` (default:
    the shipped ones), with the algorithms the run allowed."""
    group = _group(case.system_id, case.ranks_per_node, case.num_ranks)
    constants = constants or shipped()
    time_s = collective_time_s(case.kind, case.message_bytes, group, case.algorithms, constants)
    if case.metric == "time_s":
        return time_s
    return case.message_bytes / time_s * sent_fraction(case.kind, case.num_ranks)


def _loss(cases: tuple[CollectiveCase, ...], constants: CollectiveConstants) -> float:
    return mean(abs(log(predict_with(case, constants) / case.measured)) for case in cases)


def mape(cases: tuple[CollectiveCase, ...], constants: CollectiveConstants) -> float | None:
    """Mean |error| % of the cases' predictions under `constants`."""
    if not cases:
        return None
    return mean(abs(predict_with(case, constants) / case.measured - 1.0) * 100 for case in cases)


@dataclass(frozen=True)
class CollectiveFit:
    """Constants fitted on `row_ids` (none: START, unfitted) and the mean |log error| they
    reach there."""

    constants: CollectiveConstants
    row_ids: tuple[str, ...]
    loss: float | None

    def to_dict(self, cases: tuple[CollectiveCase, ...] = ()) -> dict[str, object]:
        """The constants, the rows they were fitted on and their mean |error| % on `cases`."""
        return {
            "constants": self.constants.to_dict(),
            "row_ids": list(self.row_ids),
            "mape": mape(cases, self.constants),
        }


@lru_cache(maxsize=32)
def fit_collectives(cases: tuple[CollectiveCase, ...], rounds: int = 2) -> CollectiveFit:
    """Coordinate descent over GRIDS from START on `cases` (rows the model covers: no
    skipped ones). A tier none of the rows crosses keeps its START values."""
    cases = tuple(case for case in cases if not case.skipped)
    if not cases:
        return CollectiveFit(START, (), None)
    crosses_out = any(case.num_ranks > case.ranks_per_node for case in cases)
    current, best = START, _loss(cases, START)
    for _ in range(rounds):
        for name, grid in GRIDS.items():
            if name.startswith("scale_out") and not crosses_out:
                continue
            for value in grid:
                trial = replace(current, **{name: float(value)})
                loss = _loss(cases, trial)
                if loss < best - 1e-12:
                    current, best = trial, loss
    return CollectiveFit(current, tuple(case.row_id for case in cases), best)


def fit_file_text(fit: CollectiveFit, cases: tuple[CollectiveCase, ...]) -> str:
    """data/collective_fit.json's text for `fit` (the rows it was fitted on and its
    in-sample mean |error| %)."""
    record = {
        "written_by": "python -m tigris.validate.collective_fit --write",
        "objective": "mean |log(predicted / measured)| over the rows, coordinate descent",
        "start": START.to_dict(),
        "constants": fit.constants.to_dict(),
        "loss": fit.loss,
        "in_sample_mape_pct": mape(cases, fit.constants),
        "row_ids": list(fit.row_ids),
    }
    return json.dumps(record, indent=1) + "\n"


def main(argv: list[str]) -> int:
    """Fit on the packaged rows; print the file's text, or write it with --write."""
    from tigris.io.output import write_output
    from tigris.validate.collective_protocol import fit_set

    cases = fit_set()
    text = fit_file_text(fit_collectives(cases), cases)
    path = resources.files("tigris.parallel") / "data" / FIT_FILE
    if "--write" in argv:
        write_output(str(path), text, option="--write")
        print(f"wrote {path}")
        return 0
    print(text, end="")
    same = path.is_file() and path.read_text() == text
    print(f"{path}: {'matches' if same else 'differs (run with --write)'}", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
