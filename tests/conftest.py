"""The behaviour suite's fixtures: the six flavours, the loopback server, and leak checks.

Tests are plain functions that hand a coroutine function to ``run``; the flavour runs it
on its own loop. No async pytest plugin claims any test, so none can hijack another.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

import psutil
import pytest

from triptych.flavours import FLAVOURS, Flavour
from triptych.server import LoopbackServer

T = TypeVar("T")

DEADLINE = 60.0
"""Seconds on the loop's clock before a test is failed as hung: a backstop, not a measurement."""


class Run(Protocol):
    def __call__(
        self, fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any
    ) -> T: ...


@pytest.fixture(params=FLAVOURS, ids=[flavour.name for flavour in FLAVOURS])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    result: Flavour = request.param
    return result


@pytest.fixture
def run(flavour: Flavour) -> Run:
    """Run ``fn(*args, **kwargs)`` on ``flavour`` under a deadline; fail if it leaves a task.

    ``virtual_clock=True`` fast-forwards time on the four flavours that have a virtual clock
    (the deadline is then virtual too); the two uvloop flavours run the same test in real
    time, so tests that ask for it keep their waits short and decided by wide margins.
    """

    def run(fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any) -> T:
        async def checked() -> T:
            before = await flavour.count_tasks()
            try:
                return await fn(*args, **kwargs)
            finally:
                leftover = await flavour.count_tasks() - before
                if leftover:
                    raise AssertionError(f"{leftover} task(s) still alive after the call returned")

        virtual = virtual_clock and flavour.has_virtual_clock
        return flavour.run(checked, virtual_clock=virtual, deadline=DEADLINE)

    return run


async def cancelled_when(flavour: Flavour, condition: Callable[[], bool], fn: Callable[[], Awaitable[Any]]) -> bool:
    """Like :meth:`Flavour.cancelled_after`, but the library's own cancel scope around
    ``fn()`` is cancelled as soon as ``condition()`` holds (checked every millisecond on the
    loop's clock) instead of at a fixed time, which on uvloop's real clock can come before
    the state a test means to cancel in. Return True if the scope cancelled the call."""

    async def poll() -> None:
        while not condition():
            await flavour.sleep(0.001)

    if flavour.library == "asyncio":
        import asyncio

        # The same asyncio.timeout as cancelled_after, its deadline moved to "now" by the condition.
        async def expire(scope: asyncio.Timeout) -> None:
            await poll()
            scope.reschedule(asyncio.get_running_loop().time())

        timeout = asyncio.timeout(None)
        watcher = asyncio.get_running_loop().create_task(expire(timeout))
        try:
            async with timeout:
                await fn()
        except TimeoutError:
            return True
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])
        return False
    # Trio and AnyIO spell it alike: a watcher in a task group cancels the scope.
    group_factory: Callable[[], Any]
    scope_factory: Callable[[], Any]
    if flavour.library == "trio":
        import trio

        group_factory, scope_factory = trio.open_nursery, trio.CancelScope
    else:
        import anyio

        group_factory, scope_factory = anyio.create_task_group, anyio.CancelScope

    async def cancel(scope: Any) -> None:
        await poll()
        scope.cancel()

    async with group_factory() as group:
        with scope_factory() as scope:
            group.start_soon(cancel, scope)
            await fn()
        group.cancel_scope.cancel()
    return bool(scope.cancelled_caught)


@pytest.fixture(scope="session")
def server_process() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def server(server_process: LoopbackServer) -> Iterator[LoopbackServer]:
    """The loopback server with its counters reset; after the test, nothing may be left open."""
    server_process.reset()
    yield server_process
    stats = server_process.wait_idle()
    assert stats.in_flight == 0, f"requests still in flight at the server: {stats}"
    assert stats.open_connections == 0, f"connections still open at the server: {stats}"
    assert stats.errors == 0, f"the server failed inside (see its log above): {stats}"


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound but not listening, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def _open_sockets() -> set[tuple[int, Any, Any]]:
    return {(c.fd, c.laddr, c.raddr) for c in psutil.Process().net_connections(kind="inet")}


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a socket of its own behind."""
    threads, sockets = set(threading.enumerate()), _open_sockets()
    yield
    new_threads = [t.name for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not new_threads, f"threads left running: {new_threads}"
    new_sockets = _open_sockets() - sockets
    assert not new_sockets, f"sockets left open: {new_sockets}"
