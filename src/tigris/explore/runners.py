"""Runners: where batches of designs are evaluated. All run the one pure function
`evaluate_batch(sweep, batch)`; they differ only in where.

    InlineRunner  in this process (one worker)
    PoolRunner    local worker processes (the default for several workers), each keeping
                  one Evaluator for its life
    RayRunner     Ray tasks on a local instance or a cluster (`--ray [ADDRESS]`); the sweep
                  is put in the object store once and each task evaluates a whole batch, so
                  that microsecond-to-millisecond evaluations are not dominated by
                  scheduling (Ray's per-task overhead is about a millisecond).

Each runner keeps batches in flight and hands back finished ones as they complete.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
import traceback
from collections import deque
from typing import Any, Protocol

from tigris.errors import SpecError
from tigris.explore.axes import Value
from tigris.explore.defaults import RAY_TIMEOUT_S
from tigris.explore.evaluate import (
    Evaluation,
    Evaluator,
    encode_rows,
    evaluate_batch,
    load_cost_models,
)
from tigris.explore.metrics import CostModels
from tigris.explore.sweep import Sweep
from tigris.worker_processes import die_with_parent

Batch = list[dict[str, Value]]


class Runner(Protocol):
    workers: int

    def submit(self, batch: Batch) -> None: ...

    def in_flight(self) -> int: ...

    def finished(self) -> list[list[Evaluation]]:
        """Block until at least one batch is done; return every batch that is."""
        ...

    def close(self) -> None: ...


class WarmHeap:
    """Keeps Python's full garbage collections off an evaluating process's long-lived
    objects. A full collection walks every object alive: the imported models and the
    evaluator's caches, which a sweep only grows and never frees, made each one ~30 ms
    here and ~20% of a sweep's time. After the first batch (the models, graphs and first
    caches built) what is garbage is collected and the survivors are frozen
    (`gc.freeze`), so later collections walk only what is newer; `release` (a run's end
    in a process that goes on) returns them to the collector. A process whose objects
    someone else froze is left as it is, unless it is ours (`owned`: a worker)."""

    def __init__(self, *, owned: bool = False) -> None:
        self.owned = owned
        self.frozen = False

    def freeze(self) -> None:
        if not self.frozen and (self.owned or gc.get_freeze_count() == 0):
            gc.collect()
            gc.freeze()
            self.frozen = True

    def release(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


class InlineRunner:
    """Evaluates in the calling process, keeping one Evaluator (and its caches)."""

    workers = 1

    def __init__(self, sweep: Sweep, cost: CostModels | None = None) -> None:
        self._evaluator = Evaluator(sweep, cost)
        self._done: deque[list[Evaluation]] = deque()
        self._heap = WarmHeap()

    def submit(self, batch: Batch) -> None:
        self._done.append(self._evaluator.evaluate_batch(batch))
        self._heap.freeze()  # once, after the first batch

    def in_flight(self) -> int:
        return len(self._done)

    def finished(self) -> list[list[Evaluation]]:
        done = list(self._done)
        self._done.clear()
        return done

    def close(self) -> None:
        self._heap.release()


WARM_DESIGNS = 2  # two: a batch of one skips the batch step model (StepMemo.evaluate_many)


def warm_evaluator(sweep: Sweep, cost: CostModels | None) -> Evaluator:
    """An Evaluator that has evaluated a few designs (drawn with a fixed seed; their rows
    are dropped): what every worker builds on its first batch. Its caches are keyed by
    value, so the rows of later designs are those of a fresh Evaluator."""
    import random

    rng = random.Random(0)
    evaluator = Evaluator(sweep, cost)
    designs = [
        {axis.path: rng.choice(axis.values) for axis in sweep.axes} for _ in range(WARM_DESIGNS)
    ]
    evaluator.evaluate_batch(designs)
    return evaluator


def _start_method() -> str:
    """fork where there is one: workers start in milliseconds and a script calling
    run_sweep needs no `if __name__ == '__main__'` guard. The children only evaluate (they
    never touch the parent's DuckDB connection) and leave through os._exit."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def worker_loop(
    sweep: Sweep,
    cost: CostModels | None,
    tasks: Any,
    results: Any,
    parent_pid: int,
    evaluator: Evaluator | None = None,
) -> None:
    """A pool worker: one Evaluator for the life of the process (its models, graphs and
    clusters built once, or inherited warm from the parent through fork), batches in from
    the shared task queue, rows out through this worker's own pipe, until a None task. It
    dies with its parent (worker_processes)."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (fork copies it)
    evaluator = evaluator or Evaluator(sweep, cost)
    heap = WarmHeap(owned=True)  # the process ends with the run: never released
    while True:
        task = tasks.get()
        if task is None:
            results.close()
            return
        ident, batch = task
        try:
            results.send((ident, encode_rows(evaluator.evaluate_batch(batch)), None))
        except Exception:  # a bug, not a design's outcome: the parent raises it
            results.send((ident, None, traceback.format_exc()))
        heap.freeze()  # once, after the first batch


class PoolRunner:
    """Local worker processes. Tasks go through one queue (its feeder thread never blocks
    the parent, whatever a batch's size); each worker sends its rows back through its own
    pipe, which the parent reads directly: a shared result queue costs the parent a lock
    and a thread hand-off per batch, ~20 us per row here."""

    def __init__(self, sweep: Sweep, workers: int, cost: CostModels | None = None) -> None:
        self.workers = workers
        method = _start_method()
        context = multiprocessing.get_context(method)
        self._tasks = context.Queue()
        self._processes = []
        self._results = []  # the parent's end of each worker's pipe
        # Forked workers inherit one Evaluator warmed here (models imported, workloads
        # prepared, the chip-independent caches filled): built once, not once per worker.
        warm = warm_evaluator(sweep, cost) if method == "fork" else None
        heap = WarmHeap()  # forked workers start with the parent's objects frozen
        heap.freeze()
        for _ in range(workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=worker_loop,
                args=(sweep, cost, self._tasks, send, os.getpid(), warm),
                daemon=True,
            )
            process.start()
            send.close()  # the worker's end: held by the worker alone, so its exit is seen
            self._processes.append(process)
            self._results.append(receive)
        heap.release()
        self._next = 0
        self._pending: set[int] = set()

    def submit(self, batch: Batch) -> None:
        self._pending.add(self._next)
        self._tasks.put((self._next, batch))
        self._next += 1

    def in_flight(self) -> int:
        return len(self._pending)

    def _ready(self, timeout: float | None) -> list[Any]:
        from multiprocessing.connection import wait

        return wait(self._results, timeout)

    def finished(self) -> list[list[Evaluation]]:
        """Block until a worker sends a batch; return every batch that has arrived."""
        ready = self._ready(1.0)
        while not ready:
            if not all(process.is_alive() for process in self._processes):
                raise RuntimeError("an explore worker process died")
            ready = self._ready(1.0)
        done = []
        while ready:
            for connection in ready:
                try:
                    ident, rows, error = connection.recv()
                except EOFError:
                    raise RuntimeError("an explore worker process died") from None
                if error is not None:
                    raise RuntimeError(f"an explore worker failed:\n{error}")
                self._pending.discard(ident)
                done.append(rows)
            ready = self._ready(0)
        return done

    def abort(self) -> None:
        """Stop at once (a run interrupted): the batches in flight are dropped."""
        for process in self._processes:
            if process.is_alive():
                process.kill()
        for process in self._processes:
            process.join(timeout=5)
        self._tasks.cancel_join_thread()  # its feeder may be stuck on a full pipe
        self._tasks.close()
        for connection in self._results:
            connection.close()

    def close(self) -> None:
        for _ in self._processes:
            self._tasks.put(None)
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self._tasks.close()
        for connection in self._results:
            connection.close()


def _ray_error(address: str, reason: str) -> SpecError:
    return SpecError(
        f"cannot reach the Ray cluster at {address!r}: {reason}",
        key_path="--ray",
        hint="give the head node's HOST:PORT (ray start --head prints it), "
        "or --ray alone for a local instance",
    )


def check_ray_address(address: str, timeout_s: float = RAY_TIMEOUT_S) -> None:
    """SpecError naming --ray unless a TCP connection to `address` (HOST:PORT, or
    ray://HOST:PORT) opens within `timeout_s`: ray.init alone retries an unreachable
    address for minutes. 'auto' (the cluster this machine joined) is left to Ray."""
    if address == "auto":
        return
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _ray_error(address, "not HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except TimeoutError:
        raise _ray_error(address, f"no answer within {timeout_s:g} s") from None
    except OSError as error:  # refused, no route, unknown host
        raise _ray_error(address, error.strerror or str(error)) from None


class RayRunner:
    """Ray tasks, one per batch, reading the sweep from the object store."""

    def __init__(
        self,
        sweep: Sweep,
        workers: int | None,
        address: str | None,
        cost: CostModels | None = None,
        timeout_s: float = RAY_TIMEOUT_S,
    ) -> None:
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
                check_ray_address(address, timeout_s)
                options["address"] = address
            elif workers:
                options["num_cpus"] = workers
            _init_ray(ray, options, address, timeout_s)
        self.workers = int(ray.available_resources().get("CPU", workers or 1)) or 1
        self._sweep_ref = ray.put(sweep)
        self._cost_ref = ray.put(cost)
        self._task = ray.remote(evaluate_batch)
        self._pending: list[Any] = []

    def submit(self, batch: Batch) -> None:
        self._pending.append(self._task.remote(self._sweep_ref, batch, self._cost_ref))

    def in_flight(self) -> int:
        return len(self._pending)

    def finished(self) -> list[list[Evaluation]]:
        done, self._pending = self._ray.wait(self._pending, num_returns=1)
        if self._pending:
            more, self._pending = self._ray.wait(
                self._pending, num_returns=len(self._pending), timeout=0
            )
            done += more
        return self._ray.get(done)

    def close(self) -> None:
        for ref in self._pending:
            self._ray.cancel(ref)
        self._pending = []
        if self._started_here:
            self._ray.shutdown()


def _init_ray(ray: Any, options: dict[str, Any], address: str | None, timeout_s: float) -> None:
    """ray.init, joining `address` within about `timeout_s` (Ray's own wait for a cluster's
    GCS is ~20 tries of several seconds), its connection errors as a SpecError."""
    variable = "RAY_gcs_server_port_wait_time_s"  # how many ~1 s tries Ray makes
    before = os.environ.get(variable)
    if address:
        os.environ[variable] = str(max(1, round(timeout_s)))
    try:
        ray.init(**options)
    except (ConnectionError, TimeoutError) as error:
        raise _ray_error(address or "local", str(error).splitlines()[0][:200]) from None
    finally:
        if address:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before


def make_runner(
    sweep: Sweep,
    workers: int,
    ray_address: str | None,
    use_ray: bool,
    ray_timeout_s: float = RAY_TIMEOUT_S,
) -> Runner:
    cost = load_cost_models()
    if use_ray:
        return RayRunner(
            sweep, workers if not ray_address else None, ray_address or None, cost, ray_timeout_s
        )
    if workers <= 1:
        return InlineRunner(sweep, cost)
    return PoolRunner(sweep, workers, cost)
