"""Instruction-level Chrome/Perfetto trace: one process per core, one thread per unit
(dma, mxu0..mxuN, vpu), one complete event per instruction; 1 us in the viewer = 1 cycle."""

from __future__ import annotations

from tigris.toolchain.executor.timing import Span


def chrome_trace(spans: list[Span], name: str) -> dict[str, object]:
    events: list[dict[str, object]] = []
    units = sorted({(s.core, s.unit) for s in spans})
    tids = {key: i for i, key in enumerate(units)}
    for core in sorted({c for c, _ in units}):
        events.append(
            {"ph": "M", "name": "process_name", "pid": core, "args": {"name": f"core {core}"}}
        )
    for (core, unit), tid in tids.items():
        events.append(
            {"ph": "M", "name": "thread_name", "pid": core, "tid": tid, "args": {"name": unit}}
        )
    for s in spans:
        events.append(
            {
                "ph": "X",
                "name": s.op,
                "pid": s.core,
                "tid": tids[s.core, s.unit],
                "ts": s.start,
                "dur": max(s.end - s.start, 0),
                "args": {"index": s.index},
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"program": name, "time_unit": "cycle"},
    }
