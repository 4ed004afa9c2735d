"""Worker processes that die with their parent.

A pool's workers wait on a queue the parent feeds. When the parent is killed (SIGKILL, or
SIGTERM with Python's default action) nobody tells them: forked workers hold copies of the
queue's write end themselves, so they never see end-of-file and wait forever. Every worker
a Tigris command starts (`tigris explore run --workers`, `tigris compare`) calls
`die_with_parent` first:

- on Linux the kernel sends the worker SIGKILL when its parent dies
  (`prctl(PR_SET_PDEATHSIG)`; the parent's *thread* that started the worker must live as
  long as the pool, which holds for pools made and used by one thread);
- everywhere, a watchdog thread in the worker exits it once its parent process is gone
  (`os.getppid()` no longer the pid the parent gave), within `WATCH_S`.

`worker_initializer` is the same as a `ProcessPoolExecutor(initializer=...)`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

WATCH_S = 0.5
"""How often the watchdog looks at the parent: a worker outlives it by at most this."""

_PR_SET_PDEATHSIG = 1


def _kill_on_parent_death() -> None:
    """Linux: ask the kernel for SIGKILL when the parent dies (nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the watchdog alone
        return


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: nothing will read what this worker makes
        time.sleep(WATCH_S)


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process end when the process `parent_pid` ends. Call it first
    thing in the worker, with the pid the parent had when it started the worker."""
    _kill_on_parent_death()
    if os.getppid() != parent_pid:  # the parent died before the kernel could be told
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def worker_initializer(parent_pid: int) -> None:
    """`ProcessPoolExecutor(initializer=worker_initializer, initargs=(os.getpid(),))`."""
    die_with_parent(parent_pid)
