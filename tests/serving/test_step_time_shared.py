"""shared_timer: one StepTimer per deployment value, reused across calls."""

import pytest

from tigris.serving.deployment import build_deployment
from tigris.serving.static_batch import infer
from tigris.serving.step_time import shared_timer


def _deployment():  # noqa: ANN202
    return build_deployment("llama3-8b", "h100-sxm", num_chips=2)


def test_shared_timer_gives_what_a_new_timer_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """static_batch.infer reuses one StepTimer per deployment value across calls; a
    fresh timer (TIGRIS_NO_MEMO=1) gives the same estimate, and an equal deployment
    built anew finds the shared one (keyed by value, not by object)."""
    first = infer(_deployment(), 8, 512, 64).to_dict()
    assert infer(_deployment(), 8, 512, 64).to_dict() == first
    assert shared_timer(_deployment()) is shared_timer(_deployment())
    monkeypatch.setenv("TIGRIS_NO_MEMO", "1")
    assert shared_timer(_deployment()) is not shared_timer(_deployment())
    assert infer(_deployment(), 8, 512, 64).to_dict() == first
