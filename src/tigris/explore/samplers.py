"""Samplers: which designs to evaluate next. All work by ask/tell over the sweep's axes.

    grid    every combination, in order (axes vary last-fastest)
    random  uniform draws over the combinations, seeded, without repeats
    tpe     optuna's Tree-structured Parzen Estimator (Bergstra et al. 2011), one objective
    nsga2   optuna's NSGA-II (Deb et al. 2002), several objectives

Designs already in the store are skipped (grid, random) or replayed into the study (tpe,
nsga2) so that a resumed run continues rather than repeats. Infeasible designs are told to
the study as failed trials.
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from tigris.errors import SpecError
from tigris.explore.axes import Value
from tigris.explore.evaluate import Evaluation, design_id
from tigris.explore.sweep import Sweep

Params = dict[str, Value]


class Sampler(Protocol):
    def ask(self, count: int) -> list[Params]:
        """Up to `count` designs not evaluated yet; [] when the space is exhausted."""
        ...

    def tell(self, evaluations: Iterable[Evaluation]) -> None: ...


class GridSampler:
    def __init__(self, sweep: Sweep, done: set[str]) -> None:
        self._paths = [axis.path for axis in sweep.axes]
        self._combos: Iterator[tuple[Value, ...]] = itertools.product(
            *(axis.values for axis in sweep.axes)
        )
        self._done = done

    def ask(self, count: int) -> list[Params]:
        batch: list[Params] = []
        for combo in self._combos:
            params = dict(zip(self._paths, combo, strict=True))
            if self._done and design_id(params) in self._done:  # a resumed run
                continue
            batch.append(params)
            if len(batch) == count:
                break
        return batch

    def tell(self, evaluations: Iterable[Evaluation]) -> None:
        return None


class RandomSampler:
    """Uniform over the combinations, without repeats. Once draws keep hitting designs seen
    before (the space is nearly used up), the unseen rest is listed and shuffled."""

    MAX_MISSES = 50

    def __init__(self, sweep: Sweep, done: set[str], seed: int) -> None:
        self._axes = sweep.axes
        self._rng = random.Random(seed)
        self._seen = set(done)
        self._size = sweep.space.size
        self._rest: list[Params] | None = None

    def _draw(self) -> Params | None:
        if self._rest is None:
            for _ in range(self.MAX_MISSES):
                params = {axis.path: self._rng.choice(axis.values) for axis in self._axes}
                if design_id(params) not in self._seen:
                    return params
            paths = [axis.path for axis in self._axes]
            self._rest = [
                params
                for combo in itertools.product(*(axis.values for axis in self._axes))
                if design_id(params := dict(zip(paths, combo, strict=True))) not in self._seen
            ]
            self._rng.shuffle(self._rest)
        return self._rest.pop() if self._rest else None

    def ask(self, count: int) -> list[Params]:
        batch: list[Params] = []
        while len(batch) < count and len(self._seen) < self._size:
            params = self._draw()
            if params is None:
                break
            self._seen.add(design_id(params))
            batch.append(params)
        return batch

    def tell(self, evaluations: Iterable[Evaluation]) -> None:
        return None


class OptunaSampler:
    """optuna ask/tell over categorical axes (the axes' values are the choices)."""

    MAX_REPEATS = 100

    def __init__(self, sweep: Sweep, previous: list[Evaluation], kind: str, seed: int) -> None:
        try:
            import optuna
        except ImportError:
            raise SpecError(
                f"the {kind} sampler needs optuna",
                key_path="search.sampler",
                hint="pip install 'tigris[optimize]'",
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self._optuna = optuna
        self._objectives = sweep.objectives
        self._axes = sweep.axes
        self._distributions = {
            axis.path: optuna.distributions.CategoricalDistribution(list(axis.values))
            for axis in sweep.axes
        }
        if kind == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=seed)
        self._study = optuna.create_study(
            directions=["minimize" if o.goal == "min" else "maximize" for o in sweep.objectives],
            sampler=sampler,
        )
        self._pending: dict[str, list[Any]] = {}
        self._known: dict[str, Evaluation] = {}
        for evaluation in previous:
            self._known[evaluation.design_id] = evaluation
            self._study.add_trial(
                optuna.trial.create_trial(
                    params=evaluation.params,
                    distributions=self._distributions,
                    **self._outcome(evaluation),
                )
            )

    def _outcome(self, evaluation: Evaluation) -> dict[str, Any]:
        state = self._optuna.trial.TrialState
        if not evaluation.feasible:
            return {"state": state.FAIL}
        return {
            "state": state.COMPLETE,
            "values": [evaluation.objectives[o.name] for o in self._objectives],
        }

    def ask(self, count: int) -> list[Params]:
        batch: list[Params] = []
        repeats = 0
        while len(batch) < count and repeats < self.MAX_REPEATS:
            trial = self._study.ask(self._distributions)
            params = {path: trial.params[path] for path in self._distributions}
            ident = design_id(params)
            if ident in self._known:  # evaluated before: answer from the store
                self._tell_trial(trial, self._known[ident])
                repeats += 1
                continue
            first = ident not in self._pending
            self._pending.setdefault(ident, []).append(trial)
            if first:
                batch.append(params)
        return batch

    def _tell_trial(self, trial: Any, evaluation: Evaluation) -> None:
        outcome = self._outcome(evaluation)
        self._study.tell(trial, outcome.get("values"), state=outcome["state"])

    def tell(self, evaluations: Iterable[Evaluation]) -> None:
        for evaluation in evaluations:
            self._known[evaluation.design_id] = evaluation
            for trial in self._pending.pop(evaluation.design_id, []):
                self._tell_trial(trial, evaluation)


def make_sampler(sweep: Sweep, done: set[str], previous: list[Evaluation]) -> Sampler:
    """The sampler the sweep's `search.sampler` names."""
    kind = sweep.search.sampler
    if kind == "grid":
        return GridSampler(sweep, done)
    if kind == "random":
        return RandomSampler(sweep, done, sweep.search.seed)
    return OptunaSampler(sweep, previous, kind, sweep.search.seed)
