"""Strict loading of YAML/JSON specs and dotted-path overrides."""

from tigris.io.loader import load_mapping, validate_spec
from tigris.io.overrides import apply_overrides

__all__ = ["load_mapping", "validate_spec", "apply_overrides"]
