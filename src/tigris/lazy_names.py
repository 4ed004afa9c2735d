"""Names a package exports but loads on first use (PEP 562 module __getattr__), so that
importing the package — and a command's start-up — stays cheap.

A package lists `_WHERE = {name: "tigris.pkg.module", ...}` and defines
`def __getattr__(name): return load_name(__name__, _WHERE, name)`.
"""

from __future__ import annotations

import importlib
from typing import Any


def load_name(package: str, where: dict[str, str], name: str) -> Any:
    """`name` from the module `where` names for it; AttributeError (as for any missing
    attribute) when the package does not export it."""
    if name not in where:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(where[name]), name)
