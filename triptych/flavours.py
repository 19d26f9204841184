"""The six flavours: an implementation package plus the event loop it runs on.

A flavour runs a coroutine function to completion on its own loop, optionally with a
virtual clock, and imports its libraries only when asked to, so that a missing library
fails the run with the package to install instead of failing (or skipping) at import.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar

__all__ = ["FLAVOURS", "FLAVOUR_NAMES", "Flavour", "FlavourUnavailable", "get"]

T = TypeVar("T")
Loop = Literal["asyncio", "uvloop", "trio"]


class FlavourUnavailable(RuntimeError):
    """A flavour's library is not installed; the message names the package to install."""


@dataclass(frozen=True)
class Flavour:
    """One way to run the workloads: ``package`` (an ``impl_*`` package) on ``loop``."""

    name: str
    package: str
    loop: Loop

    @property
    def library(self) -> str:
        """The async library the implementation is written against."""
        return self.package.removeprefix("impl_")

    def requirements(self) -> list[str]:
        """The pip requirements this flavour needs beyond the standard library."""
        needs = {"anyio": ["anyio"], "trio": ["trio"], "asyncio": []}[self.library]
        if self.loop != "asyncio":
            needs = [*needs, self.loop]
        return sorted(set(needs))

    def check(self) -> None:
        """Raise :class:`FlavourUnavailable` unless every library this flavour needs imports."""
        for module in {self.library, self.loop} - {"asyncio"}:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise FlavourUnavailable(
                    f"flavour {self.name!r} needs {module}, which is not installed: "
                    f"pip install {' '.join(self.requirements())}"
                ) from exc

    def workload(self, name: str) -> ModuleType:
        """Import and return this flavour's implementation of workload ``name``."""
        self.check()
        return importlib.import_module(f"{self.package}.{name}")

    @property
    def has_virtual_clock(self) -> bool:
        """Whether :meth:`run` can fast-forward time: trio's ``MockClock``, or looptime on
        stdlib asyncio. uvloop's clock cannot be replaced."""
        return self.loop != "uvloop"

    def run(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        virtual_clock: bool = False,
        deadline: float | None = None,
    ) -> T:
        """Run ``fn(*args)`` to completion on a fresh loop of this flavour; return its result.

        With ``virtual_clock``, time only passes when every task is waiting on a timer, and
        then it jumps straight to the next one: trio's ``MockClock(autojump_threshold=0)``
        on the trio loop, a looptime-patched loop on stdlib asyncio. ``deadline`` (seconds,
        on the loop's clock) wraps the call in the library's own timeout scope, so a hang
        fails inside the loop instead of blocking it.

        Raises:
          FlavourUnavailable: a library this flavour needs is not installed.
          ValueError: ``virtual_clock`` on a uvloop flavour (see :attr:`has_virtual_clock`).
        """
        self.check()
        if virtual_clock and not self.has_virtual_clock:
            raise ValueError(f"flavour {self.name!r} has no virtual clock: uvloop's clock cannot be replaced")
        if self.library == "anyio":
            import anyio

            options: dict[str, Any] = {}
            if self.loop == "uvloop":
                options["use_uvloop"] = True
            if virtual_clock:
                options["clock" if self.loop == "trio" else "loop_factory"] = _virtual_clock(self.loop)
            backend = "trio" if self.loop == "trio" else "asyncio"
            return anyio.run(_anyio_within, deadline, fn, *args, backend=backend, backend_options=options)
        if self.loop == "trio":
            import trio

            clock = _virtual_clock("trio") if virtual_clock else None
            return trio.run(_trio_within, deadline, fn, *args, clock=clock)
        import asyncio

        loop_factory = None
        if self.loop == "uvloop":
            import uvloop

            loop_factory = uvloop.new_event_loop
        elif virtual_clock:
            loop_factory = _virtual_clock("asyncio")
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_asyncio_within(deadline, fn, *args))

    async def count_tasks(self) -> int:
        """The number of tasks alive on the running loop (call it from inside :meth:`run`)."""
        if self.library == "anyio":
            import anyio

            return len(anyio.get_running_tasks())
        if self.loop == "trio":
            import trio

            return trio.lowlevel.current_statistics().tasks_living
        import asyncio

        return len(asyncio.all_tasks())

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        """Await ``fn(*args)`` inside the library's own cancel scope with a deadline of
        ``seconds``: a cancel from outside the call. Return True if the deadline cancelled it
        (call it from inside :meth:`run`)."""
        if self.library == "anyio":
            import anyio

            with anyio.move_on_after(seconds) as scope:
                await fn(*args)
            return scope.cancelled_caught
        if self.loop == "trio":
            import trio

            with trio.move_on_after(seconds) as trio_scope:
                await fn(*args)
            return trio_scope.cancelled_caught
        import asyncio

        try:
            async with asyncio.timeout(seconds) as asyncio_scope:
                await fn(*args)
        except TimeoutError:
            # A TimeoutError of the call's own (such as DeadlineExceeded) is not the cancel.
            if not asyncio_scope.expired():
                raise
            return True
        return False

    async def current_time(self) -> float:
        """The running loop's clock, virtual under ``virtual_clock`` (call it from inside :meth:`run`)."""
        if self.library == "anyio":
            import anyio

            return anyio.current_time()
        if self.loop == "trio":
            import trio

            return trio.current_time()
        import asyncio

        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """The library's own sleep (call it from inside :meth:`run`)."""
        if self.library == "anyio":
            import anyio

            await anyio.sleep(seconds)
        elif self.loop == "trio":
            import trio

            await trio.sleep(seconds)
        else:
            import asyncio

            await asyncio.sleep(seconds)


def _virtual_clock(loop: Loop) -> Any:
    """A trio ``MockClock``, or a factory of looptime-patched asyncio loops."""
    if loop == "trio":
        from trio.testing import MockClock

        return MockClock(autojump_threshold=0)
    try:
        import looptime
    except ImportError as exc:
        raise FlavourUnavailable("a virtual clock on asyncio needs looptime: pip install looptime") from exc
    import asyncio

    def new_loop() -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)
        return loop

    return new_loop


async def _asyncio_within(deadline: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import asyncio

    async with asyncio.timeout(deadline):
        return await fn(*args)


async def _trio_within(deadline: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import trio

    with trio.fail_after(math.inf if deadline is None else deadline):
        return await fn(*args)


async def _anyio_within(deadline: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import anyio

    with anyio.fail_after(deadline):
        return await fn(*args)


FLAVOURS: tuple[Flavour, ...] = (
    Flavour("asyncio", "impl_asyncio", "asyncio"),
    Flavour("asyncio+uvloop", "impl_asyncio", "uvloop"),
    Flavour("trio", "impl_trio", "trio"),
    Flavour("anyio-asyncio", "impl_anyio", "asyncio"),
    Flavour("anyio-uvloop", "impl_anyio", "uvloop"),
    Flavour("anyio-trio", "impl_anyio", "trio"),
)
FLAVOUR_NAMES: tuple[str, ...] = tuple(f.name for f in FLAVOURS)


def get(name: str) -> Flavour:
    """Return the flavour called ``name``; ``ValueError`` names the valid ones otherwise."""
    for flavour in FLAVOURS:
        if flavour.name == name:
            return flavour
    raise ValueError(f"unknown flavour {name!r}; choose from {', '.join(FLAVOUR_NAMES)}")
