"""The flavours: an implementation package plus the event loop it runs on.

Six on every Python, and on 3.12+ a seventh, ``asyncio+eager``: raw asyncio on the stdlib
loop with ``asyncio.eager_task_factory``, which runs a new task's first step inside
``create_task`` instead of at the loop's next turn.

A flavour runs a coroutine function to completion on its own loop, optionally with a
virtual clock, and imports its libraries only when asked to, so that a missing library
fails the run with the package to install instead of failing (or skipping) at import.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, TypeVar

__all__ = [
    "ALL_FLAVOURS",
    "ALL_FLAVOUR_NAMES",
    "FLAVOURS",
    "FLAVOUR_NAMES",
    "SLOW_CALLBACK",
    "Flavour",
    "FlavourUnavailable",
    "get",
]

T = TypeVar("T")
Loop = Literal["asyncio", "uvloop", "trio"]
Watcher = Callable[[Callable[[], object]], Coroutine[Any, Any, None]]
"""A task that calls its argument (a cancel) when it sees fit."""


SLOW_CALLBACK = 5.0
"""Seconds a callback may hold an asyncio loop in debug mode before it is logged: asyncio's
default (0.1 s) is crossed by a mere pause of the process on a loaded machine, and a step
that starts hundreds of tasks took 1.3 s with both cores busy (measured when each task still
recorded its creation stack, see :func:`_without_creation_stacks`). A call that blocks the
loop for good is still caught."""


class FlavourUnavailable(RuntimeError):
    """A flavour's library is not installed; the message names the package to install."""


@dataclass(frozen=True)
class Flavour:
    """One way to run the workloads: ``package`` (an ``impl_*`` package) on ``loop``,
    with an eager task factory if ``eager`` (stdlib asyncio, Python 3.12+)."""

    name: str
    package: str
    loop: Loop
    eager: bool = False
    _library: _Library = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_library", _LIBRARIES[self.library])

    def exists_on(self, python: tuple[int, int]) -> bool:
        """Whether this flavour exists on that Python (eager tasks came in 3.12)."""
        return not self.eager or python >= (3, 12)

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
        """Raise :class:`FlavourUnavailable` unless this Python has the flavour and every
        library it needs imports."""
        if not self.exists_on(sys.version_info[:2]):
            raise FlavourUnavailable(f"flavour {self.name!r} needs Python 3.12 or newer (asyncio.eager_task_factory)")
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
        timeout: float | None = None,
        debug: bool = False,
    ) -> T:
        """Run ``fn(*args)`` to completion on a fresh loop of this flavour; return its result.

        With ``virtual_clock``, time only passes when every task is waiting on a timer, and
        then it jumps straight to the next one: trio's ``MockClock(autojump_threshold=0)``
        on the trio loop, a looptime-patched loop on stdlib asyncio. ``timeout`` (seconds,
        on the loop's clock) wraps the call in the library's own timeout scope, so a hang
        fails inside the loop instead of blocking it.

        ``debug`` runs an asyncio loop (stdlib, uvloop, or under AnyIO) in asyncio's debug
        mode, as the behaviour suite does (the benchmarks do not): among its checks, a
        callback that holds the loop longer than :data:`SLOW_CALLBACK` seconds is logged.
        The futures and tasks do not record the stack they were created on, unless
        ``PYTHONASYNCIODEBUG`` asks for the whole mode (see :func:`_without_creation_stacks`).
        Trio's loop has no such mode.

        Raises:
          FlavourUnavailable: a library this flavour needs is not installed.
          ValueError: ``virtual_clock`` on a uvloop flavour (see :attr:`has_virtual_clock`).
        """
        self.check()
        if virtual_clock and not self.has_virtual_clock:
            raise ValueError(f"flavour {self.name!r} has no virtual clock: uvloop's clock cannot be replaced")
        return self._library.run(self, fn, args, virtual_clock=virtual_clock, timeout=timeout, debug=debug)

    async def count_tasks(self) -> int:
        """The number of tasks alive on the running loop (call it from inside :meth:`run`)."""
        return await self._library.count_tasks()

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        """Await ``fn(*args)`` inside the library's own cancel scope with a timeout of
        ``seconds``: a cancel from outside the call. Return True if the timeout cancelled it
        (call it from inside :meth:`run`)."""
        return await self._library.cancelled_after(seconds, fn, *args)

    async def cancelled_when(
        self, condition: Callable[[], bool], fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> bool:
        """Await ``fn(*args)`` inside the library's own cancel scope, cancelled from a sibling
        task as soon as ``condition()`` holds (polled every millisecond on the loop's clock): a
        cancel from outside the call at a moment the test chooses, where a timeout could fire
        too early (a virtual clock jumps to it whenever the loop is idle, e.g. while a thread
        works; uvloop's real clock may reach it before the state the test means to cancel
        in). Return True if the cancel came before ``fn`` returned (call it from inside
        :meth:`run`)."""
        fired = False

        async def cancel_when_ready(cancel: Callable[[], object]) -> None:
            nonlocal fired
            while not condition():
                await self.sleep(0.001)
            fired = True
            cancel()

        await self._library.cancelled_by(cancel_when_ready, fn, *args)
        return fired

    async def current_time(self) -> float:
        """The running loop's clock, virtual under ``virtual_clock`` (call it from inside :meth:`run`)."""
        return await self._library.current_time()

    async def sleep(self, seconds: float) -> None:
        """The library's own sleep (call it from inside :meth:`run`)."""
        await self._library.sleep(seconds)


# --- One adapter per library ---------------------------------------------------------------
#
# Each flavour picks its adapter once, by the library its package is written against, as
# AnyIO picks a backend class. Each imports its library only when called, so a flavour whose
# library is missing fails in check() with the package to install.


class _Library:
    """How one async library runs a coroutine function, and the few calls the suite needs."""

    def run(
        self,
        flavour: Flavour,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        virtual_clock: bool,
        timeout: float | None,
        debug: bool,
    ) -> T:
        raise NotImplementedError

    async def count_tasks(self) -> int:
        raise NotImplementedError

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        raise NotImplementedError

    async def cancelled_by(self, canceller: Watcher, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Await ``fn(*args)`` in a cancel scope that ``canceller``, run beside it, may cancel."""
        raise NotImplementedError

    async def current_time(self) -> float:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError


class _Asyncio(_Library):
    def run(
        self,
        flavour: Flavour,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        virtual_clock: bool,
        timeout: float | None,
        debug: bool,
    ) -> T:
        import asyncio

        loop_factory = _asyncio_loop(flavour, virtual_clock=virtual_clock, debug=debug)
        # debug=None, not False: PYTHONASYNCIODEBUG still turns the mode on.
        with asyncio.Runner(debug=debug or None, loop_factory=loop_factory) as runner:
            return runner.run(_asyncio_within(timeout, fn, *args))

    async def count_tasks(self) -> int:
        import asyncio

        return len(asyncio.all_tasks())

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        import asyncio

        try:
            async with asyncio.timeout(seconds) as scope:
                await fn(*args)
        except TimeoutError:
            # A TimeoutError of the call's own (such as DeadlineExceeded) is not the cancel.
            if not scope.expired():
                raise
            return True
        return False

    async def cancelled_by(self, canceller: Watcher, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        # asyncio's own cancel scope, as in cancelled_after: a timeout with no deadline, which
        # the canceller moves to now (a task.cancel() the call swallowed would stay counted).
        scope = asyncio.timeout(None)
        watcher: asyncio.Task[None] | None = None
        try:
            async with scope:
                # Started inside the scope: an eager task may cancel it at once.
                watcher = asyncio.create_task(canceller(lambda: scope.reschedule(loop.time())))
                await fn(*args)
        except TimeoutError:
            if not scope.expired():
                raise  # the call's own TimeoutError, not the cancel
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.wait([watcher])

    async def current_time(self) -> float:
        import asyncio

        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)


class _Trio(_Library):
    def run(
        self,
        flavour: Flavour,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        virtual_clock: bool,
        timeout: float | None,
        debug: bool,
    ) -> T:
        import trio

        clock = _virtual_clock("trio") if virtual_clock else None
        return trio.run(_trio_within, timeout, fn, *args, clock=clock)

    async def count_tasks(self) -> int:
        import trio

        return trio.lowlevel.current_statistics().tasks_living

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        import trio

        with trio.move_on_after(seconds) as scope:
            await fn(*args)
        return scope.cancelled_caught

    async def cancelled_by(self, canceller: Watcher, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        import trio

        async with trio.open_nursery() as nursery:
            nursery.start_soon(canceller, nursery.cancel_scope.cancel)
            await fn(*args)
            nursery.cancel_scope.cancel()  # fn returned first: stop the watcher

    async def current_time(self) -> float:
        import trio

        return trio.current_time()

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)


class _AnyIO(_Library):
    def run(
        self,
        flavour: Flavour,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        *,
        virtual_clock: bool,
        timeout: float | None,
        debug: bool,
    ) -> T:
        import anyio

        options: dict[str, Any]
        if flavour.loop == "trio":
            backend, options = "trio", {"clock": _virtual_clock("trio")} if virtual_clock else {}
        else:
            loop_factory = _asyncio_loop(flavour, virtual_clock=virtual_clock, debug=debug)
            backend, options = "asyncio", {"debug": debug or None, "loop_factory": loop_factory}
        return anyio.run(_anyio_within, timeout, fn, *args, backend=backend, backend_options=options)

    async def count_tasks(self) -> int:
        import anyio

        return len(anyio.get_running_tasks())

    async def cancelled_after(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        import anyio

        with anyio.move_on_after(seconds) as scope:
            await fn(*args)
        return scope.cancelled_caught

    async def cancelled_by(self, canceller: Watcher, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        import anyio

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(canceller, tasks.cancel_scope.cancel)
            await fn(*args)
            tasks.cancel_scope.cancel()  # fn returned first: stop the watcher

    async def current_time(self) -> float:
        import anyio

        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(seconds)


_LIBRARIES: dict[str, _Library] = {"asyncio": _Asyncio(), "trio": _Trio(), "anyio": _AnyIO()}


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


def _asyncio_loop(flavour: Flavour, *, virtual_clock: bool, debug: bool) -> Callable[[], Any] | None:
    """A factory of the asyncio loops ``flavour`` runs on: uvloop's or the stdlib's, with a
    virtual clock, an eager task factory, a debug mode's bound on slow callbacks, as asked;
    None where the runner's own default loop is all it takes."""
    import asyncio

    whole_debug_mode = _whole_debug_mode_asked()  # PYTHONASYNCIODEBUG or -X dev: whatever `debug` says
    if flavour.loop == "asyncio" and not (virtual_clock or flavour.eager or debug or whole_debug_mode):
        return None
    make: Callable[[], Any] = asyncio.new_event_loop
    if flavour.loop == "uvloop":
        import uvloop

        make = uvloop.new_event_loop
    elif virtual_clock:
        make = _virtual_clock("asyncio")

    def new_loop() -> Any:
        loop = make()
        if flavour.eager:
            loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
        if debug or whole_debug_mode:
            loop.slow_callback_duration = SLOW_CALLBACK
        if debug and not whole_debug_mode:
            _without_creation_stacks(loop)
        return loop

    return new_loop


def _whole_debug_mode_asked() -> bool:
    # asyncio's own test for its debug mode (asyncio.coroutines._is_debug_mode, private).
    return sys.flags.dev_mode or (not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG")))


def _without_creation_stacks(loop: Any) -> None:
    """Debug mode less the stack that each future and task records where it is created.

    Each asks ``loop.get_debug()`` as it is created and, when it is true, records
    ``traceback.extract_stack()``: the whole stack, every line looked up (the stdlib loop's
    handles ask too, for a shorter one). Under pytest that is most of what debug mode costs:
    the eight workload modules' tests took 23 s of CPU in the whole mode, 14 s in this one
    and 12-13 s without any (3.11, one process). Every check the mode makes reads the loop's
    own flag, which stays set: a callback that holds the loop past
    ``slow_callback_duration``, a call from another thread, where a coroutine never awaited
    came from. A report loses only the "created at" of a future or a task: run the suite
    with ``PYTHONASYNCIODEBUG=1`` to have it.
    """
    loop.get_debug = lambda: False


async def _asyncio_within(timeout: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import asyncio

    async with asyncio.timeout(timeout):
        return await fn(*args)


async def _trio_within(timeout: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import trio

    with trio.fail_after(math.inf if timeout is None else timeout):
        return await fn(*args)


async def _anyio_within(timeout: float | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import anyio

    with anyio.fail_after(timeout):
        return await fn(*args)


ALL_FLAVOURS: tuple[Flavour, ...] = (
    Flavour("asyncio", "impl_asyncio", "asyncio"),
    Flavour("asyncio+uvloop", "impl_asyncio", "uvloop"),
    Flavour("asyncio+eager", "impl_asyncio", "asyncio", eager=True),
    Flavour("trio", "impl_trio", "trio"),
    Flavour("anyio-asyncio", "impl_anyio", "asyncio"),
    Flavour("anyio-uvloop", "impl_anyio", "uvloop"),
    Flavour("anyio-trio", "impl_anyio", "trio"),
)
"""Every flavour on any Python, in reading order: results from another Python may name one
that the running Python lacks."""
ALL_FLAVOUR_NAMES: tuple[str, ...] = tuple(f.name for f in ALL_FLAVOURS)
FLAVOURS: tuple[Flavour, ...] = tuple(f for f in ALL_FLAVOURS if f.exists_on(sys.version_info[:2]))
"""The flavours of the running Python."""
FLAVOUR_NAMES: tuple[str, ...] = tuple(f.name for f in FLAVOURS)


def get(name: str) -> Flavour:
    """Return the flavour called ``name`` (on any Python: :meth:`Flavour.check` says if it
    cannot run on this one); ``ValueError`` names the valid ones otherwise."""
    for flavour in ALL_FLAVOURS:
        if flavour.name == name:
            return flavour
    raise ValueError(f"unknown flavour {name!r}; choose from {', '.join(ALL_FLAVOUR_NAMES)}")
