"""Helpers the behaviour suite shares: the ``run`` fixture, durations on the loop's clock and the thread leak check.

Test modules import these from here, never from ``conftest`` (pytest's fixtures file).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import pytest

from triptych.flavours import Flavour

__all__ = ["IDLE_TRIO_THREAD", "THREAD_EXIT", "TIMEOUT", "Run", "assert_durations", "threads_left"]

P = ParamSpec("P")
T = TypeVar("T")

TIMEOUT = 60.0
"""Seconds on the loop's clock before a test is failed as hung: a backstop, not a measurement."""


class Run:
    """The ``run`` fixture: ``run(fn, *args, **kwargs)`` awaits ``fn(*args, **kwargs)`` on the
    test's flavour and returns its result; ``run.virtual(fn, *args, **kwargs)`` does the same
    on a virtual clock. A test that runs every flavour itself (``tests/test_fuzz.py``) makes
    one per flavour: ``Run(flavour).virtual(fn)``.

    Either fails the call if it runs past ``timeout`` seconds on the loop's clock, and fails
    the test if the call leaves a task behind. The loop runs in asyncio's debug mode on the
    flavours that run an asyncio loop (``Flavour.run``'s ``debug``). ``mypy`` checks the
    arguments against ``fn``'s signature.
    """

    def __init__(self, flavour: Flavour, *, timeout: float = TIMEOUT) -> None:
        self.flavour = flavour
        self.timeout = timeout

    def __call__(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(fn, args, kwargs, virtual_clock=False)

    def virtual(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Fast-forward time on the flavours that have a virtual clock (the timeout is then
        virtual too); the two uvloop flavours run the same call in real time, so tests that
        use this keep their waits short and decided by wide margins."""
        return self._run(fn, args, kwargs, virtual_clock=self.flavour.has_virtual_clock)

    def _run(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any], *, virtual_clock: bool
    ) -> T:
        flavour = self.flavour

        async def checked() -> T:
            before = await flavour.count_tasks()
            try:
                return await fn(*args, **kwargs)
            finally:
                leftover = await flavour.count_tasks() - before
                if leftover:
                    raise AssertionError(f"{leftover} task(s) still alive after the call returned")

        return flavour.run(checked, virtual_clock=virtual_clock, timeout=self.timeout, debug=True)


EARLY = 0.01
"""Seconds a real timer may fire before the time it was set for: uvloop's round to the millisecond."""


def assert_durations(flavour: Flavour, measured: list[float], requested: list[float]) -> None:
    """Durations measured on the loop's clock: exactly the requested ones on a virtual clock.

    On uvloop's real clock a timer may fire a little early, never by more than ``EARLY``, and
    late by as much as a busy machine holds the loop up (a tenth of a second and more on a
    shared host): so there only the lower bound is asserted. The same code runs on a
    virtual clock in its sibling flavour (asyncio, anyio-asyncio), where the exact value is.
    """
    if flavour.has_virtual_clock:
        assert measured == pytest.approx(requested, abs=1e-9)
    else:
        assert all(m >= r - EARLY for m, r in zip(measured, requested, strict=True)), (measured, requested)


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
