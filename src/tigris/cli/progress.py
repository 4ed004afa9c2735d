"""Progress of long work on stderr, never on stdout (which may carry --json).

On a terminal a rich progress bar; otherwise (a pipe, a CI log) one plain line every few
seconds (TIGRIS_PROGRESS_EVERY_S), `label: done/total (pct%), elapsed, eta`; nothing at
all with `quiet`. Domain code does not import this: it takes a `progress(done, total)`
callback, and the command line passes `Progress.update` (so a notebook or a script can
pass its own, or none).
"""

import os
import sys
import threading
import time
from typing import IO, Any


class Progress:
    """A context manager reporting `done` of `total` units of work under `label`."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        quiet: bool = False,
        every_s: float | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.quiet = quiet
        self.every_s = every_s if every_s is not None else _default_every_s()
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._start = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        self._printed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> "Progress":
        self._start = time.monotonic()
        if not self.quiet and _is_terminal(self.stream):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        elif not self.quiet and self.every_s > 0:
            # A line every every_s seconds even while one unit of work runs long (one
            # validation row can take minutes): a log that stays silent looks hung.
            self._stop.clear()
            self._heartbeat = threading.Thread(target=self._beat, daemon=True)
            self._heartbeat.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            self._write(final=False)

    def __exit__(self, *exc: object) -> None:
        if self._heartbeat is not None:
            self._stop.set()
            self._heartbeat.join()
            self._heartbeat = None
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
        elif self._printed and exc[0] is None:
            self._write(final=True)

    def update(self, done: int, total: int | None = None) -> None:
        """`done` units finished so far (of `total`, when it is known only now)."""
        self.done = done
        if total is not None:
            self.total = total
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total)
            return
        if self.every_s <= 0:  # every update a line (tests); otherwise the heartbeat writes
            self._write(final=False)

    def advance(self, step: int = 1) -> None:
        self.update(self.done + step)

    def _write(self, *, final: bool) -> None:
        with self._lock:  # the heartbeat thread and the caller may both write
            self._write_line(final=final)

    def _write_line(self, *, final: bool) -> None:
        elapsed = time.monotonic() - self._start
        text = f"{self.label}: {self.done}"
        if self.total:
            text += f"/{self.total} ({100 * self.done / self.total:.0f}%)"
        text += f", {elapsed:.0f} s"
        if not final and self.total and self.done:
            remaining = elapsed * (self.total - self.done) / self.done
            text += f", about {remaining:.0f} s left"
        if final:
            text += ", done"
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: progress is not worth failing for
            return
        self._printed = True


def _default_every_s() -> float:
    """Seconds between plain lines: TIGRIS_PROGRESS_EVERY_S when set to a number >= 0 (a
    CI log may want more, a test 0), else 5."""
    try:
        value = float(os.environ.get("TIGRIS_PROGRESS_EVERY_S", "5"))
    except ValueError:
        return 5.0
    return value if value >= 0 else 5.0


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
