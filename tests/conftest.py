"""The behaviour suite's fixtures: the six flavours, the loopback server, and leak checks.

Tests are plain functions that hand a coroutine function to ``run``; the flavour runs it
on its own loop. No async pytest plugin claims any test, so none can hijack another.
"""

from __future__ import annotations

import functools
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

import psutil
import pytest
from hypothesis import settings

from triptych.flavours import FLAVOURS, Flavour
from triptych.server import LoopbackServer

T = TypeVar("T")

DEADLINE = 60.0
"""Seconds on the loop's clock before a test is failed as hung: a backstop, not a measurement."""


# The fuzz tests' profiles (tests/test_fuzz.py). The regular suite runs a few fixed examples
# per workload, the same ones every run; `--hypothesis-profile=fuzz` (`nox -s fuzz`) explores
# at least 200 per workload and keeps the failing ones in Hypothesis's database.
settings.register_profile("quick", max_examples=5, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("fuzz", max_examples=200, deadline=None, print_blob=True)
settings.load_profile("quick")


class Run(Protocol):
    def __call__(
        self, fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any
    ) -> T: ...


@pytest.fixture(params=FLAVOURS, ids=[flavour.name for flavour in FLAVOURS])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    result: Flavour = request.param
    return result


def run_on(
    flavour: Flavour, fn: Callable[..., Awaitable[T]], *args: Any, virtual_clock: bool = False, **kwargs: Any
) -> T:
    """Run ``fn(*args, **kwargs)`` on ``flavour`` under a deadline; fail if it leaves a task.

    ``virtual_clock=True`` fast-forwards time on the four flavours that have a virtual clock
    (the deadline is then virtual too); the two uvloop flavours run the same test in real
    time, so tests that ask for it keep their waits short and decided by wide margins.
    """

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


@pytest.fixture
def run(flavour: Flavour) -> Run:
    """:func:`run_on` the test's flavour."""
    return functools.partial(run_on, flavour)


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


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound but not listening, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def _open_sockets() -> set[tuple[int, Any, Any]]:
    return {(c.fd, c.laddr, c.raddr) for c in psutil.Process().net_connections(kind="inet")}


IDLE_TRIO_THREAD = re.compile(r"Trio thread \d+")
"""The name of an idle thread in Trio's process-wide cache: the library's, not the call's
(shared.fanout, "What is left running"). A busy cache thread bears its job's name."""


def threads_left(before: set[threading.Thread]) -> list[str]:
    """The threads started since ``before`` that still run, but Trio's idle cached ones."""
    new = (t for t in threading.enumerate() if t not in before and t.is_alive())
    return [t.name for t in new if not IDLE_TRIO_THREAD.fullmatch(t.name)]


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a socket of its own behind."""
    threads, sockets = set(threading.enumerate()), _open_sockets()
    yield
    new_threads = threads_left(threads)
    assert not new_threads, f"threads left running: {new_threads}"
    new_sockets = _open_sockets() - sockets
    assert not new_sockets, f"sockets left open: {new_sockets}"
