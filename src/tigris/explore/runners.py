"""Runners: where batches of designs are evaluated. All run the one pure function
`evaluate_batch(sweep, batch)`; they differ only in where.

    InlineRunner  in this process (one worker)
    PoolRunner    a local process pool (the default for several workers)
    RayRunner     Ray tasks on a local instance or a cluster (`--ray [ADDRESS]`); the sweep
                  is put in the object store once and each task evaluates a whole batch, so
                  that microsecond-to-millisecond evaluations are not dominated by
                  scheduling (Ray's per-task overhead is about a millisecond).

Each runner keeps batches in flight and hands back finished ones as they complete.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from tigris.errors import SpecError
from tigris.explore.axes import Value
from tigris.explore.evaluate import Evaluation, Evaluator, evaluate_batch
from tigris.explore.sweep import Sweep

Batch = list[dict[str, Value]]


class Runner(Protocol):
    workers: int

    def submit(self, batch: Batch) -> None: ...

    def in_flight(self) -> int: ...

    def finished(self) -> list[list[Evaluation]]:
        """Block until at least one batch is done; return every batch that is."""
        ...

    def close(self) -> None: ...


class InlineRunner:
    """Evaluates in the calling process, keeping one Evaluator (and its caches)."""

    workers = 1

    def __init__(self, sweep: Sweep) -> None:
        self._evaluator = Evaluator(sweep)
        self._done: deque[list[Evaluation]] = deque()

    def submit(self, batch: Batch) -> None:
        self._done.append(self._evaluator.evaluate_batch(batch))

    def in_flight(self) -> int:
        return len(self._done)

    def finished(self) -> list[list[Evaluation]]:
        done = list(self._done)
        self._done.clear()
        return done

    def close(self) -> None:
        return None


def _ready() -> int:
    return os.getpid()


def _start_method() -> str:
    """fork where there is one: workers start in milliseconds and a script calling
    run_sweep needs no `if __name__ == '__main__'` guard. The children only evaluate (they
    never touch the parent's DuckDB connection) and leave through os._exit."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


class PoolRunner:
    """A local process pool; each task evaluates one batch."""

    def __init__(self, sweep: Sweep, workers: int) -> None:
        self.workers = workers
        self._sweep = sweep
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context(_start_method())
        )
        self._futures: set[Future[list[Evaluation]]] = set()

    def warm_up(self) -> None:
        """Start every worker and import Tigris there before timing anything."""
        futures = [
            self._pool.submit(evaluate_batch, self._sweep, []) for _ in range(self.workers * 2)
        ]
        for future in futures:
            future.result()

    def submit(self, batch: Batch) -> None:
        self._futures.add(self._pool.submit(evaluate_batch, self._sweep, batch))

    def in_flight(self) -> int:
        return len(self._futures)

    def finished(self) -> list[list[Evaluation]]:
        done, self._futures = wait(self._futures, return_when=FIRST_COMPLETED)
        return [future.result() for future in done]

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayRunner:
    """Ray tasks, one per batch, reading the sweep from the object store."""

    def __init__(self, sweep: Sweep, workers: int | None, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise SpecError(
                "--ray needs Ray", key_path="--ray", hint="pip install 'tigris[ray]'"
            ) from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                options["address"] = address
            elif workers:
                options["num_cpus"] = workers
            ray.init(**options)
        self.workers = int(ray.available_resources().get("CPU", workers or 1)) or 1
        self._sweep_ref = ray.put(sweep)
        self._task = ray.remote(evaluate_batch)
        self._pending: list[Any] = []

    def warm_up(self) -> None:
        self._ray.get([self._task.remote(self._sweep_ref, []) for _ in range(self.workers)])

    def submit(self, batch: Batch) -> None:
        self._pending.append(self._task.remote(self._sweep_ref, batch))

    def in_flight(self) -> int:
        return len(self._pending)

    def finished(self) -> list[list[Evaluation]]:
        done, self._pending = self._ray.wait(self._pending, num_returns=1)
        more, self._pending = self._ray.wait(
            self._pending, num_returns=len(self._pending), timeout=0
        )
        return self._ray.get(done + more)

    def close(self) -> None:
        for ref in self._pending:
            self._ray.cancel(ref)
        self._pending = []
        if self._started_here:
            self._ray.shutdown()


def make_runner(sweep: Sweep, workers: int, ray_address: str | None, use_ray: bool) -> Runner:
    if use_ray:
        return RayRunner(sweep, workers if not ray_address else None, ray_address or None)
    if workers <= 1:
        return InlineRunner(sweep)
    return PoolRunner(sweep, workers)


def flatten(batches: Sequence[list[Evaluation]]) -> list[Evaluation]:
    return [row for batch in batches for row in batch]
