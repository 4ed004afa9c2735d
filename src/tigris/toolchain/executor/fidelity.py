"""The executor's cycles per operator against the tile engine's prediction for the same
operators on the same chip.

Each compiled operator is one kernel ending in a barrier, so its executed time is the time
between barriers. The tile engine times the matching workload op: Linear -> Gemm, Attention
-> Attention, the row-wise operators -> Stream (bytes in and out of HBM, vector flop). The
engine's calibration terms (matrix and DRAM efficiency fitted to measurements of other
chips, a per-kernel launch overhead) stand for effects the executor does not model, so by
default they are neutralised (1, 1, 0 s) and the two models differ only in mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.engines.base import get_engine
from tigris.hardware.chip import Calibration, Chip, SystolicMatrix
from tigris.toolchain.compiler.graph import Attention as AttentionNode
from tigris.toolchain.compiler.graph import Embedding, Graph, Linear
from tigris.workload.ops import Attention, Gemm, Op, Stream

MODE_DTYPE = {"bf16": "bf16", "int8": "int8", "fp8": "fp8"}


@dataclass(frozen=True)
class OperatorTime:
    name: str
    kind: str
    executed_s: float
    predicted_s: float

    @property
    def ratio(self) -> float:
        return self.executed_s / self.predicted_s if self.predicted_s else float("inf")

    @property
    def reason(self) -> str:
        return REASONS.get(self.kind, "")

    def to_json_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "executed_s": self.executed_s,
            "predicted_s": self.predicted_s,
            "ratio": self.ratio,
            "reason": self.reason,
        }


def agreement(rows: list[OperatorTime]) -> float:
    """Whole-model executed time over the tile engine's prediction."""
    predicted = sum(r.predicted_s for r in rows)
    return sum(r.executed_s for r in rows) / predicted if predicted else float("inf")


def table(rows: list[OperatorTime]) -> str:
    """Per operator kind (summed over layers): executed, predicted, ratio and the reason."""
    kinds: dict[str, list[float]] = {}
    for r in rows:
        totals = kinds.setdefault(r.kind, [0.0, 0.0, 0.0])
        totals[0] += r.executed_s
        totals[1] += r.predicted_s
        totals[2] += 1
    lines = [f"{'operator':10s} {'n':>3s} {'executor us':>12s} {'tile us':>9s} {'ratio':>6s}  why"]
    for kind, (executed, predicted, count) in kinds.items():
        lines.append(
            f"{kind:10s} {int(count):3d} {executed * 1e6:12.2f} {predicted * 1e6:9.2f} "
            f"{executed / predicted:6.2f}  {REASONS.get(kind, '')}"
        )
    executed = sum(r.executed_s for r in rows)
    predicted = sum(r.predicted_s for r in rows)
    lines.append(
        f"{'model':10s} {len(rows):3d} {executed * 1e6:12.2f} {predicted * 1e6:9.2f} "
        f"{agreement(rows):6.2f}"
    )
    return "\n".join(lines)


# Why each kind of operator still differs between the executor and the tile engine (both
# model the same mechanisms: folds with fill/drain, vector passes, DMA latency, barriers).
REASONS = {
    "Linear": "executor: a core's grid share runs whole row chunks through its arrays (the "
    "first group of column tiles fold-major while X streams in), its last tiles' epilogues "
    "and store after the arrays, and the grid loads X once per core column; tile engine: "
    "the best core grid's folds in whole waves plus one fold's operands as the fill",
    "Attention": "executor: QK^T and PV folds on separate halves of a core's arrays, each "
    "to the least loaded one, PV waiting for its softmax; tile engine: folds spread evenly "
    "over all arrays, overlapped with the softmax",
    "LayerNorm": "executor: chunks prefetched deep enough to hide the DMA latency, so only "
    "the first chunk's latency and vector passes and the last store's latency show; tile "
    "engine: the whole stream at bandwidth plus a chunk in and out and both latencies",
    "RMSNorm": "as LayerNorm",
    "Embedding": "executor: each gather waits for its ids in SRAM (one more DMA latency, "
    "position rows overlap it); tile engine: bandwidth bound plus fill and drain",
}


def workload_op(node: object, graph: Graph, mode: str) -> Op:
    """The workload op the tile engine times for one graph operator."""
    tokens = graph.num_tokens
    if isinstance(node, Linear):
        k, n = graph.constants[node.weight].shape
        return Gemm(node.name, m=tokens, n=n, k=k, dtype=MODE_DTYPE[mode], out_dtype="bf16")
    if isinstance(node, AttentionNode):
        lengths = set(graph.seq_lengths)
        length = max(lengths)
        return Attention(
            node.name,
            batch=len(graph.seq_lengths),
            num_heads=node.num_heads,
            num_kv_heads=node.num_kv_heads,
            head_dim=node.head_dim,
            q_len=length,
            kv_len=length,
            causal=node.causal,
            dtype="bf16",
        )
    if isinstance(node, Embedding):
        # Gathered fp32 table rows (and fp32 position rows) in, bf16 out, one add per table.
        width = int(graph.constants[node.table].shape[-1])
        tables = 1 + (node.positions is not None) + (node.type_row is not None)
        return Stream(
            node.name,
            tokens * width,
            bytes_read=4.0 * tokens * width * (1 + (node.positions is not None)) + 4.0 * tokens,
            bytes_written=2.0 * tokens * width,
            flop_per_element=float(tables),
        )
    width_in = _width(node, graph)
    width_out = width_in if not hasattr(node, "activation") else width_in // 2
    return Stream(
        node.name,
        tokens * width_in,
        bytes_read=2.0 * tokens * width_in,
        bytes_written=2.0 * tokens * width_out,
        flop_per_element=8.0,
    )  # type: ignore[attr-defined]


def _width(node: object, graph: Graph) -> int:
    for key in ("table", "gamma", "cos"):
        name = getattr(node, key, None)
        if name is not None:
            return (
                int(graph.constants[name].shape[-1])
                if key != "cos"
                else int(graph.constants[name].shape[1]) * node.num_heads
            )  # type: ignore[attr-defined]
    return 0


def compare(
    graph: Graph,
    kernel_end_cycles: tuple[int, ...],
    clock_hz: float,
    chip: Chip,
    mode: str,
    *,
    neutral_calibration: bool = True,
) -> list[OperatorTime]:
    """Per operator: executed seconds (between barriers) and the tile engine's seconds."""
    if neutral_calibration:
        chip = chip.model_copy(
            update={
                "calibration": Calibration(
                    matrix_fraction=1.0, dram_fraction=1.0, kernel_overhead=0.0
                )
            }
        )
    if isinstance(chip.matrix, SystolicMatrix) and chip.matrix.weight_buffers != 1:
        # The executor's arrays run mxu.ldw and then mxu.mm (timing.py): no weight
        # preloading, so the tile engine is asked for the same single-buffered arrays.
        matrix = chip.matrix.model_copy(update={"weight_buffers": 1})
        chip = chip.model_copy(update={"matrix": matrix})
    engine = get_engine("tile")
    rows, previous = [], 0
    for node, end in zip(graph.nodes, kernel_end_cycles, strict=True):
        executed = (end - previous) / clock_hz
        previous = end
        predicted = engine.time(workload_op(node, graph, mode), chip).time_s
        rows.append(OperatorTime(node.name, type(node).__name__, executed, predicted))
    return rows
