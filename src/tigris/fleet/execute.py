"""Where candidates are evaluated: in this process, on local worker processes (that die
with this one: tigris.worker_processes), or as Ray tasks. One function of one task,
results in task order, `progress(done, total)` as tasks finish."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from tigris.errors import SpecError
from tigris.worker_processes import worker_initializer

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None] | None


def map_tasks(
    function: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int = 1,
    ray: bool = False,
    progress: Progress = None,
) -> list[R]:
    """`function` of every task, in task order."""
    report = progress or (lambda done, total: None)
    report(0, len(tasks))
    if ray:
        return _on_ray(function, tasks, workers, report)
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(function(task))
            report(len(results), len(tasks))
        return results
    return _on_pool(function, tasks, workers, report)


def _on_pool(
    function: Callable[[T], R], tasks: Sequence[T], workers: int, report: Callable[[int, int], None]
) -> list[R]:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=multiprocessing.get_context(method),
        initializer=worker_initializer,  # workers die with this process
        initargs=(os.getpid(),),
    ) as pool:
        futures = [pool.submit(function, task) for task in tasks]
        for done, _ in enumerate(as_completed(futures), 1):
            report(done, len(tasks))
        return [future.result() for future in futures]


def _on_ray(
    function: Callable[[T], R], tasks: Sequence[T], workers: int, report: Callable[[int, int], None]
) -> list[R]:
    """Ray tasks on a local instance (of `workers` CPUs), or the cluster this machine
    joined (RAY_ADDRESS)."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        from tigris.explore.runners import _init_ray

        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "configure_logging": False}  # fmt: skip
        if not os.environ.get("RAY_ADDRESS"):
            options["num_cpus"] = max(1, workers)
        _init_ray(ray, options, os.environ.get("RAY_ADDRESS"), 30.0)
    try:
        remote = ray.remote(function)
        refs = [remote.remote(task) for task in tasks]
        pending, done = list(refs), 0
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            done += len(finished)
            report(done, len(tasks))
        return list(ray.get(refs))
    finally:
        if started:
            ray.shutdown()


def require_ray() -> Any:
    """The ray module, or a SpecError naming --ray with the install command."""
    try:
        import ray
    except ImportError:
        raise SpecError("--ray needs Ray", key_path="--ray",
                        hint="pip install 'tigris[ray]'") from None  # fmt: skip
    return ray
