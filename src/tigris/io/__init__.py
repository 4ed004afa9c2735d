"""Strict loading of YAML/JSON specs and dotted-path overrides.

The names load on first use (tigris.lazy_names), so that a command module can read
`tigris.io.limits`' defaults without loading YAML and pydantic at start-up."""

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "load_mapping": "tigris.io.loader",
    "validate_spec": "tigris.io.loader",
    "apply_overrides": "tigris.io.overrides",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
