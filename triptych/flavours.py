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

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, clock: Any = None, deadline: float | None = None) -> T:
        """Run ``fn(*args)`` to completion on a fresh loop of this flavour; return its result.

        ``clock`` is a ``trio.abc.Clock`` (e.g. ``trio.testing.MockClock``); only trio-loop
        flavours accept one. ``deadline`` (seconds, on the loop's clock) wraps the call in the
        library's own timeout scope, so a hang fails inside the loop instead of blocking it.

        Raises:
          FlavourUnavailable: a library this flavour needs is not installed.
        """
        self.check()
        if clock is not None and self.loop != "trio":
            raise ValueError(f"flavour {self.name!r} runs on {self.loop}, which takes no trio clock")
        if self.library == "anyio":
            import anyio

            backend = "trio" if self.loop == "trio" else "asyncio"
            options: dict[str, Any] = {}
            if self.loop == "uvloop":
                options["use_uvloop"] = True
            if clock is not None:
                options["clock"] = clock
            return anyio.run(_anyio_within, deadline, fn, *args, backend=backend, backend_options=options)
        if self.loop == "trio":
            import trio

            return trio.run(_trio_within, deadline, fn, *args, clock=clock)
        import asyncio

        loop_factory = None
        if self.loop == "uvloop":
            import uvloop

            loop_factory = uvloop.new_event_loop
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
