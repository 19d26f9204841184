"""Helpers the behaviour suite shares: the ``run`` fixture's type and the thread leak check.

Test modules import these from here, never from ``conftest`` (pytest's fixtures file).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

__all__ = ["IDLE_TRIO_THREAD", "Run", "threads_left"]

T = TypeVar("T")


class Run(Protocol):
    """The ``run`` fixture: ``run(fn, *args, virtual_clock=False, **kwargs)`` on the test's flavour."""

    def __call__(
        self, fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any
    ) -> T: ...


IDLE_TRIO_THREAD = re.compile(r"Trio thread \d+")
"""The name of an idle thread in Trio's process-wide cache: the library's, not the call's
(shared.fanout, "What is left running"). A busy cache thread bears its job's name."""


def threads_left(before: set[threading.Thread]) -> list[str]:
    """The threads started since ``before`` that still run, but Trio's idle cached ones."""
    new = (t for t in threading.enumerate() if t not in before and t.is_alive())
    return [t.name for t in new if not IDLE_TRIO_THREAD.fullmatch(t.name)]
