"""Running a sweep: the sampler proposes, a runner evaluates, the store commits.

Batches are kept in flight (two per worker, one for the model-based samplers so they learn
from recent results); finished rows are committed in groups (_Writer: the first batch, then
every few thousand rows or second, and at the end). A re-run of the same sweep into the same
file continues: designs in the store are not evaluated again, and `samples` counts what is
already there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tigris.explore.defaults import RAY_TIMEOUT_S
from tigris.explore.evaluate import Evaluation
from tigris.explore.runners import Runner, make_runner
from tigris.explore.samplers import make_sampler
from tigris.explore.store import Store
from tigris.explore.sweep import Sweep

DEFAULT_MODEL_SAMPLES = 200


@dataclass
class Progress:
    """Where a run stands; handed to the progress callback after every batch."""

    target: int
    done: int = 0
    new: int = 0
    stored: int = 0  # rows of this run committed to the store
    feasible: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    best_design: dict[str, str] = field(default_factory=dict)
    started_s: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @property
    def evals_per_s(self) -> float:
        return self.new / self.elapsed_s if self.elapsed_s > 0 else 0.0


def target_samples(sweep: Sweep, samples: int | None) -> int:
    """How many designs the run should hold in the end."""
    size = sweep.space.size
    wanted = samples or sweep.search.samples
    if sweep.search.sampler in ("grid", "random"):
        return min(wanted or size, size)
    return min(wanted or DEFAULT_MODEL_SAMPLES, size)


ROW_BYTES = 48  # a row's key, seq, status, version, timings and DuckDB's overhead, besides JSON


@dataclass(frozen=True)
class Estimate:
    """What a run would cost: designs and workloads, seconds and bytes of results."""

    designs: int
    workloads: int
    workers: int
    designs_per_s: float  # with `workers`, from designs evaluated here
    row_bytes: float

    @property
    def seconds(self) -> float:
        return self.designs / self.designs_per_s if self.designs_per_s > 0 else float("inf")

    @property
    def file_bytes(self) -> float:
        return self.designs * self.row_bytes

    def describe(self) -> str:
        from tigris.explore.report import format_duration, format_size

        return (
            f"{self.designs:,} designs x {self.workloads} workload"
            f"{'s' if self.workloads != 1 else ''}: about {format_duration(self.seconds)} "
            f"with {self.workers} worker{'s' if self.workers != 1 else ''} "
            f"(measured {self.designs_per_s:,.0f} designs/s) and "
            f"{format_size(self.file_bytes)} of results"
        )


def estimate_run(
    sweep: Sweep, designs: int, workers: int = 1, *, budget_s: float = 2.0, chunk: int = 16
) -> Estimate:
    """Evaluate a few random designs here (after one warm-up chunk, which builds the models,
    for about `budget_s`), store them in a DuckDB in memory, and scale: the workers share
    the evaluations, the parent stores every row."""
    import random

    from tigris.explore.evaluate import Evaluator, encode_rows

    rng = random.Random(sweep.search.seed)
    evaluator = Evaluator(sweep)

    def draw() -> list[dict]:
        return [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(chunk)]

    rows = encode_rows(evaluator.evaluate_batch(draw()))  # warm-up: models, graphs, caches
    timed, evaluating = 0, 0.0
    while evaluating < budget_s and timed < 64 * chunk:
        start = time.perf_counter()
        rows += encode_rows(evaluator.evaluate_batch(draw()))
        evaluating += time.perf_counter() - start
        timed += chunk
    unique = list({row.design_id: row for row in rows}.values())
    with Store(":memory:") as store:
        store.register_sweep(sweep)
        start = time.perf_counter()
        store.add(sweep.sweep_hash, unique, 0)
        storing = (time.perf_counter() - start) / len(unique)
    per_design = max(evaluating / max(timed, 1) / workers, storing)
    text = sum(len(t) for row in rows for t in row.stored_json) + sum(
        len(row.reason or "") for row in rows
    )
    return Estimate(
        designs=designs,
        workloads=len(sweep.workloads),
        workers=workers,
        designs_per_s=1 / per_design if per_design > 0 else float("inf"),
        row_bytes=text / len(rows) + ROW_BYTES,
    )


def check_run_size(
    sweep: Sweep, designs: int, max_designs: int, workers: int = 1
) -> Estimate | None:
    """SpecError (one line: the estimate and the option that raises the limit) when a run
    would evaluate more than `max_designs` designs; None when it is within the limit."""
    if designs <= max_designs:
        return None
    from tigris.errors import SpecError

    estimate = estimate_run(sweep, designs, workers)
    raise SpecError(
        f"this run would evaluate {estimate.describe()}; the limit is {max_designs:,} "
        "designs (--max-designs N raises it)",
        file=sweep.file,
        hint="or evaluate a part with --samples N, or narrow the axes",
    )


def _record(progress: Progress, sweep: Sweep, rows: list[Evaluation]) -> None:
    """Count a finished batch's rows and keep the best value of each objective (the
    process that writes the store does this for every row: kept to plain lookups)."""
    progress.done += len(rows)
    progress.new += len(rows)
    statuses, best, best_design = progress.statuses, progress.best, progress.best_design
    for row in rows:
        status = row.status
        statuses[status] = statuses.get(status, 0) + 1
        if status != "ok":  # Evaluation.feasible
            continue
        progress.feasible += 1
        for objective in sweep.objectives:
            value = row.objectives[objective.name]
            found = best.get(objective.name)
            if value is not None and (found is None or objective.better(value, found)):
                best[objective.name] = value
                best_design[objective.name] = row.design_id
    progress.elapsed_s = time.perf_counter() - progress.started_s


def run_sweep(
    sweep: Sweep,
    store: Store,
    *,
    samples: int | None = None,
    workers: int = 1,
    use_ray: bool = False,
    ray_address: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    runner: Runner | None = None,
    ray_timeout_s: float = RAY_TIMEOUT_S,
) -> Progress:
    """Evaluate the sweep into `store` until it holds `samples` designs (or the space is
    exhausted); returns the final Progress (counts of this run; `done` includes earlier)."""
    store.register_sweep(sweep)
    done_ids = store.design_ids(sweep.sweep_hash)
    adaptive = sweep.search.sampler in ("tpe", "nsga2")
    previous = store.evaluations(sweep.sweep_hash) if adaptive else []
    sampler = make_sampler(sweep, done_ids, previous)
    target = target_samples(sweep, samples)
    progress = Progress(target=target, done=len(done_ids))
    to_submit = max(0, target - len(done_ids))
    seq = store.next_seq(sweep.sweep_hash)
    if on_progress:
        on_progress(progress)
    if to_submit == 0:
        return progress
    writer = _Writer(store, sweep.sweep_hash, seq, progress)
    own_runner = runner is None
    runner = runner or make_runner(sweep, workers, ray_address, use_ray, ray_timeout_s)
    depth = runner.workers * (1 if adaptive else 2)
    batch_size = sweep.search.batch
    exhausted = False
    finished = False
    try:
        while True:
            while not exhausted and to_submit > 0 and runner.in_flight() < depth:
                batch = sampler.ask(min(batch_size, to_submit))
                if not batch:
                    exhausted = True
                    break
                runner.submit(batch)
                to_submit -= len(batch)
            if runner.in_flight() == 0:
                break
            for rows in runner.finished():
                writer.add(rows)
                sampler.tell(rows)
                _record(progress, sweep, rows)
                if on_progress:
                    on_progress(progress)
        finished = True
    finally:
        writer.flush()
        if own_runner:
            stop = runner.close if finished else getattr(runner, "abort", runner.close)
            stop()  # an interrupted run drops its batches in flight at once
    if on_progress:
        on_progress(progress)
    return progress


class _Writer:
    """Commits finished rows in groups: the first batch at once (a run's first rows land in
    the file straight away), then every FLUSH_ROWS rows or FLUSH_S seconds, and at the end
    (also when the run is interrupted by an exception). A commit costs ~5 ms whatever its
    size and each row ~8 us more (DuckDB here): groups of thousands keep the store from
    limiting a run, and a SIGKILL loses at most the last FLUSH_S seconds of work,
    evaluated again on resume."""

    FLUSH_ROWS = 4096
    FLUSH_S = 1.0

    def __init__(self, store: Store, sweep_hash: str, seq: int, progress: Progress) -> None:
        self.store = store
        self.sweep_hash = sweep_hash
        self.seq = seq
        self.progress = progress
        self.pending: list[Evaluation] = []
        self.last = time.perf_counter()
        self.flushed = False

    def add(self, rows: list[Evaluation]) -> None:
        self.pending += rows
        if (
            not self.flushed
            or len(self.pending) >= self.FLUSH_ROWS
            or time.perf_counter() - self.last >= self.FLUSH_S
        ):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.add(self.sweep_hash, self.pending, self.seq)
            self.seq += len(self.pending)
            self.progress.stored += len(self.pending)
            self.pending = []
            self.flushed = True
        self.last = time.perf_counter()
