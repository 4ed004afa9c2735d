"""Re-run SCALE-Sim itself (marked `peer`; needs .venv-scalesim, see make_golden.py)."""

from __future__ import annotations

import pytest
from systolic_helpers import config_from_golden, load_make_golden

from tigris.engines.systolic import simulate

make_golden = load_make_golden()

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        not make_golden.PEER_PYTHON.exists(), reason="SCALE-Sim venv .venv-scalesim not installed"
    ),
]

# A few golden configurations per dataflow, including a decode-like one, plus shapes the
# golden set does not hold.
_FRESH = [
    make_golden._config(37, 53, 71, 8, 16, "os", 64, 64, 64),
    make_golden._config(37, 53, 71, 16, 8, "ws", 64, 64, 64),
    make_golden._config(37, 53, 71, 12, 20, "is", 64, 64, 64),
]


def _golden_sample(records):
    picked = [r for r in records if (r["config"]["M"], r["config"]["N"]) == (1, 1024)]
    return picked[:2] + records[:: len(records) // 6]


@pytest.mark.parametrize("config", _FRESH, ids=lambda c: c["dataflow"])
def test_fresh_configs_agree_with_peer(config):
    peer = make_golden.run_peer(config)
    result = simulate(config["M"], config["N"], config["K"], config_from_golden(config))
    assert result.total_cycles == peer["total_cycles"]
    assert result.sram_reads_ifmap == peer["sram_reads_ifmap"]
    assert result.sram_reads_filter == peer["sram_reads_filter"]


def test_golden_data_still_matches_peer(golden_records):
    for record in _golden_sample(golden_records):
        assert make_golden.run_peer(record["config"]) == record["scalesim"]
