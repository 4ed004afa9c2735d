"""The workloads a design is judged on, as the sweep file writes them (`task:` picks one).

    train       a training run on num_chips under a ParallelPlan (tigris.parallel)
    train_step  one training step of `batch` sequences on ONE chip, op graph timed by an
                engine; no parallelism, no memory-capacity check (a compute-only figure)
    prefill     a prefill of `batch` prompts on one chip, op graph timed by an engine
    decode      one decode step of `batch` sequences on one chip
    infer       a static batch on a deployment (tigris.serving.infer)
    serve       Poisson arrivals at `rate` served by continuous batching (tigris.serving)
    synthetic   a closed-form test function of the parameters with a known Pareto front
    fleet       the fleet of a demand file planned with the design on its supply menu
                (tigris.fleet.design_sweep, above explore, evaluates it; docs/fleet.md)

Each carries a `weight` (how much it counts when an objective is averaged over workloads)
and a `name` (defaults to task-model).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Engine = Literal["tile", "roofline"]


class _Workload(BaseModel):
    # allow_inf_nan: YAML reads '1e400' (no dot) as a string, which pydantic made infinite
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str | None = Field(None, max_length=200)
    weight: float = Field(1.0, gt=0, description="share in objectives averaged over workloads")

    @property
    def label(self) -> str:
        model = getattr(self, "model", None) or getattr(self, "function", "")
        return self.name or f"{self.task}-{model}"  # type: ignore[attr-defined]


class TrainWorkload(_Workload):
    task: Literal["train"]
    model: str
    num_chips: int = Field(gt=0)
    global_batch: int = Field(gt=0, description="sequences per step")
    seq_len: int = Field(gt=0)
    plan: dict[str, Any] = Field(
        description="tigris.parallel.ParallelPlan fields (tp, pp, dp, ...)"
    )
    system: str | None = Field(None, description="cluster id; the base chip's default system")
    engine: Engine = "tile"
    train_tokens: float | None = Field(None, gt=0, description="tokens of the run (time to train)")


class TrainStepWorkload(_Workload):
    task: Literal["train_step"]
    model: str
    batch: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    recompute: Literal["none", "full"] = "none"
    engine: Engine = "tile"
    train_tokens: float | None = Field(None, gt=0)


class PrefillWorkload(_Workload):
    task: Literal["prefill"]
    model: str
    batch: int = Field(1, gt=0)
    prompt_len: int = Field(gt=0)
    engine: Engine = "tile"


class DecodeWorkload(_Workload):
    task: Literal["decode"]
    model: str
    batch: int = Field(1, gt=0)
    kv_len: int = Field(gt=0)
    engine: Engine = "tile"


class InferWorkload(_Workload):
    task: Literal["infer"]
    model: str
    num_chips: int = Field(1, gt=0)
    tp: int | None = Field(None, gt=0)
    batch: int = Field(gt=0)
    input_len: int = Field(gt=0)
    output_len: int = Field(gt=0)


class ServeWorkload(_Workload):
    task: Literal["serve"]
    model: str
    num_chips: int = Field(1, gt=0)
    tp: int | None = Field(None, gt=0)
    rate: float = Field(gt=0, description="requests per second (Poisson)")
    # bounded: each design simulates them all (2e9 ran for minutes before any limit)
    num_requests: int = Field(200, gt=0, le=1_000_000)
    input_len: int = Field(gt=0)
    output_len: int = Field(gt=0)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="numpy's seed range")


class SyntheticWorkload(_Workload):
    task: Literal["synthetic"]
    function: Literal["zdt1", "sphere"]
    inputs: list[str] = Field(min_length=1, description="parameters read, each scaled to [0, 1]")


class FleetWorkload(_Workload):
    """The fleet of `demand` (a `tigris plan` demand file, relative to the sweep file)
    planned with the design on its supply menu, replacing the entry named `replace` or
    added beside the others. Planned by tigris.fleet (above explore), which evaluates it
    through `design_metrics` once `tigris.fleet.design_sweep.attach_fleet` has bound it
    (`tigris explore run` does); unbound, its metrics are unavailable."""

    task: Literal["fleet"]
    demand: str = Field(min_length=1, description="demand file, relative to the sweep file")
    replace: str | None = Field(None, min_length=1, description="menu entry the design replaces")
    system: str | None = Field(None, description="system id or YAML; the base chip's default")
    price_usd_per_chip: float | None = Field(None, gt=0, description="the design's price")
    price_markup: float | None = Field(
        None, gt=0, description="price = this x the cost model's manufacturing cost"
    )
    max_chips: int | None = Field(None, gt=0, le=2**31 - 1, description="the design's availability")
    chips_per_rack: int | None = Field(None, gt=0, le=2**31 - 1)

    @property
    def label(self) -> str:
        return self.name or f"fleet-{self.demand.rsplit('/', 1)[-1].rsplit('.', 1)[0]}"

    def design_metrics(self, chip: Any, figures: Any) -> dict[str, Any]:
        from tigris.explore.metrics import Unavailable

        raise Unavailable("a fleet workload is planned by tigris.fleet: load the sweep with "
                          "tigris.fleet.design_sweep.load_fleet_sweep (tigris explore run does)")  # fmt: skip


Workload = Annotated[
    TrainWorkload
    | TrainStepWorkload
    | PrefillWorkload
    | DecodeWorkload
    | InferWorkload
    | ServeWorkload
    | SyntheticWorkload
    | FleetWorkload,
    Field(discriminator="task"),
]

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "train": (
        "tokens_per_s",
        "step_time_s",
        "mfu",
        "time_to_train_s",
        "j_per_token",
        "usd_per_mtoken",
    ),
    "train_step": (
        "tokens_per_s",
        "step_time_s",
        "time_to_train_s",
        "j_per_token",
        "usd_per_mtoken",
    ),
    "prefill": ("tokens_per_s", "latency_s", "j_per_token", "usd_per_mtoken"),
    "decode": ("tokens_per_s", "latency_s", "j_per_token", "usd_per_mtoken"),
    "infer": ("tokens_per_s", "latency_s", "ttft_s", "tpot_s", "j_per_token", "usd_per_mtoken"),
    "serve": ("tokens_per_s", "p99_latency_s", "p50_latency_s", "j_per_token", "usd_per_mtoken"),
    "synthetic": ("f1", "f2"),
    "fleet": ("fleet_tco", "fleet_capex", "fleet_peak_w", "fleet_chips", "fleet_design_chips"),
}
"""The metrics each task yields (an objective names one; `time_to_train_s` needs
`train_tokens`)."""
