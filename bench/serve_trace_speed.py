"""Speed of replaying the Azure 2023 conversation trace (19,366 requests, one hour) on 8
H100 (tp 8) for Llama-3-70B, as `tigris serve llama3-70b --chip h100-sxm --num-chips 8
--trace azure-conv --scenario replay` does (trace read + simulation), median of 3.

Llama-3-70B's preset has an 8,192-token context; one request of the trace is 14,089
tokens, so the bench gives the preset Llama-3.1-70B's 131,072-token context (same weights
and shapes). Target (issue 18): under 3 s.
"""

from __future__ import annotations

import statistics
import time

from tigris.api.serving import serve
from tigris.workload.presets import load_model


def main() -> None:
    spec = load_model("llama3-70b").model_copy(update={"max_position_embeddings": 131072})
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = serve(spec, chip="h100-sxm", num_chips=8, scenario="replay", trace="azure-conv")
        times.append(time.perf_counter() - start)
    print(
        f"azure-conv replay, {result.metrics['num_requests']} requests, "
        f"{result.metrics['num_steps']} engine steps: median {statistics.median(times):.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
