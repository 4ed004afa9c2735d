"""Two rich modules that typer imports to draw help and never uses for Tigris, loaded only
if something does use them.

typer's help renderer (typer.rich_utils) imports `rich.markdown.Markdown` (markdown-it:
about 40 ms, a sixth of `tigris --help`) and `rich.traceback.Traceback` (about 20 ms) at
its top. Tigris writes help in rich markup, never markdown, and turns typer's pretty
tracebacks off, so neither class is used. `defer()` registers a stand-in module for each
whose class loads the real module on first use (a call, or any attribute): what is drawn
is unchanged, and the cost is paid only by whoever uses them.
"""

import importlib
import sys
import types
from typing import Any

# module -> the one class typer imports from it
DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _real(module: str, name: str) -> Any:
    """The real class, importing its module now (replacing the stand-in) if need be."""
    loaded = sys.modules.get(module)
    if loaded is None or getattr(loaded, "__tigris_stand_in__", False):
        sys.modules.pop(module, None)
        loaded = importlib.import_module(module)
    return getattr(loaded, name)


def _refuse_dunder(attribute: str) -> None:
    """The import system and typing probe special names (`__path__`, `__origin__`): those
    are answered 'absent' rather than loading the real module."""
    if attribute.startswith("__") and attribute.endswith("__"):
        raise AttributeError(attribute)


class _StandIn(type):
    """The metaclass of a stand-in class: calling it or reading any attribute it lacks
    goes to the real class. A class (not a function) so that annotations such as
    `Markdown | Text` still evaluate."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real(cls.__module__, cls.__name__)(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        _refuse_dunder(attribute)
        return getattr(_real(cls.__module__, cls.__name__), attribute)


class _StandInModule(types.ModuleType):
    """A module whose attributes other than its stand-in class come from the real one."""

    __tigris_stand_in__ = True

    def __getattr__(self, attribute: str) -> Any:
        _refuse_dunder(attribute)
        _real(self.__name__, DEFERRED[self.__name__])  # the real module replaces this one
        return getattr(sys.modules[self.__name__], attribute)


def defer() -> None:
    """Register the stand-ins for the modules not loaded yet."""
    for module, name in DEFERRED.items():
        if module in sys.modules:
            continue
        stand_in = _StandInModule(module)
        setattr(stand_in, name, _StandIn(name, (), {"__module__": module}))
        sys.modules[module] = stand_in
