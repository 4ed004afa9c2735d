"""Error types. User mistakes are SpecError (the CLI prints them in one or two lines, exit 2).

TigrisError
  SpecError        bad input: names the file, the key path, what was expected and given
  InfeasibleError  a valid design that cannot run the workload (a sweep records the reason)
  UnsupportedError a valid request the model does not cover (e.g. fp8 on A100)
"""

from __future__ import annotations

from typing import Any

MAX_GIVEN_CHARS = 80
"""A value a user gave is quoted in a message up to this many characters, then '...'."""


def shorten(text: str, limit: int = MAX_GIVEN_CHARS) -> str:
    """`text` cut to `limit` characters, ending in '...' when cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def given(value: Any, limit: int = MAX_GIVEN_CHARS) -> str:
    """A short repr of a value a user gave, for a message: a string or number as repr()
    writes it, cut to `limit` characters; a list or mapping by its size only (its repr
    may be huge: a YAML alias expands to the same object many times over)."""
    if isinstance(value, (dict, list, tuple, set)):
        kind = "a mapping" if isinstance(value, dict) else "a list"
        return f"{kind} of {len(value)} items"
    if isinstance(value, str):
        return shorten(repr(value[: limit + 2]), limit)
    return shorten(repr(value), limit)


class TigrisError(Exception):
    """Base of every error Tigris raises on purpose."""


class SpecError(TigrisError):
    """Bad input. `str()` gives 'file: key.path: message (hint: ...)'."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key_path = key_path
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(part for part in (self.file, self.key_path) if part)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def with_file(self, file: str) -> SpecError:
        """The same error, located in `file` (kept when one is already set)."""
        return SpecError(
            self.message, file=self.file or file, key_path=self.key_path, hint=self.hint
        )


class InfeasibleError(TigrisError):
    """A valid design that cannot run the workload; `reason` is one line."""

    def __init__(self, reason: str, *, over_bytes: float | None = None) -> None:
        self.reason = reason
        self.over_bytes = over_bytes
        super().__init__(reason)


class UnsupportedError(TigrisError):
    """A request the chip or the model does not support (a dtype without a hardware path)."""
