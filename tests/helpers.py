"""Helpers the behaviour suite shares: the ``run`` fixture's type and the thread leak check.

Test modules import these from here, never from ``conftest`` (pytest's fixtures file).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

__all__ = ["IDLE_TRIO_THREAD", "THREAD_EXIT", "Run", "threads_left"]

T = TypeVar("T")


class Run(Protocol):
    """The ``run`` fixture: ``run(fn, *args, virtual_clock=False, **kwargs)`` on the test's flavour."""

    def __call__(
        self, fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any
    ) -> T: ...


IDLE_TRIO_THREAD = re.compile(r"Trio thread \d+")
"""The name of a thread idle in Trio's thread cache, kept there for reuse (by Trio, and AnyIO
on Trio): the library's, not the call's (shared.fanout, "What is left running"). A thread
running a call is named after the call."""

THREAD_EXIT = 5.0
"""Seconds a thread that has finished its work may take to exit: a backstop, not a wait."""


def threads_left(before: set[threading.Thread], *, exit_within: float = 0.0) -> list[str]:
    """The threads started since ``before`` still alive after ``exit_within`` seconds each,
    but Trio's idle cached ones."""
    new = [t for t in threading.enumerate() if t not in before and not IDLE_TRIO_THREAD.fullmatch(t.name)]
    for thread in new:
        # A worker pool shut down as the call returned lets its idle threads exit on their own.
        thread.join(exit_within)
    return [t.name for t in new if t.is_alive()]
