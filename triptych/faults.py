"""The fault matrix: each network workload against each fault the loopback server can produce.

A cell is one way of calling a workload (:data:`CALLS`) against one fault (:data:`FAULTS`).
Every cell fetches a few URLs with ``limit=2``. A fault that the caller's ``timeout`` must
end (a response that never comes, a trickled body) is fetched with a ``timeout`` of
:data:`TIMEOUT`; the others mix healthy URLs in, so a fault must fail only its own URLs,
under a ``timeout`` of :data:`GENEROUS` that no request should come near (a short one would
time out healthy requests on a loaded machine). A cell holds when, on every flavour,

- the outcome is the one expected: each URL's result kind in input order (``"ok connect
  ok connect"``), or the exception raised (``"FanoutError(connect)"``);
- the call returned within a bound set by the caller's timeout, :func:`bound_of`, measured
  on the flavour's own clock inside its loop; the caller's own cancel scope ends a call that
  runs past it, and the outcome then reads ``"ran past its bound"``;
- nothing is left open (the behaviour suite checks tasks, threads and sockets around it).

``tests/test_faults.py`` asserts every cell on every flavour. :func:`matrix` runs the same
cells outside pytest and returns one :class:`FaultRow` per cell, with what each flavour did,
for a report to render as a table (faults down, calls across, a cell per flavour or one
mark when all agree)::

    rows = matrix()
    for row in rows:
        print(row.fault, row.call, row.expected, row.agrees, row.observed)

The TCP streams workload joins the matrix as more :data:`CALLS`.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from shared.fanout import FanoutError, FetchResult
from triptych.flavours import FLAVOURS, Flavour
from triptych.server import LoopbackServer

__all__ = [
    "CALLS",
    "FAULTS",
    "GENEROUS",
    "LIMIT",
    "TIMEOUT",
    "Call",
    "Cell",
    "Fault",
    "FaultRow",
    "bound_of",
    "matrix",
    "refused_port",
    "run_cell",
]

TIMEOUT = 0.1
"""Each request's ``timeout``, in seconds, where the timeout is what ends the fault."""
GENEROUS = 10.0
"""Each request's ``timeout``, in seconds, where something else ends the fault."""
LIMIT = 2
"""Requests in flight at once."""
SLACK = 5.0
"""Seconds added to the bound for scheduling on a loaded machine: a call that ignores its
timeout never returns at all, so any finite slack catches it."""


@dataclass(frozen=True)
class Fault:
    """One fault, as the four URLs a cell fetches and the result kind each must get.

    In ``urls``, ``{server}`` is the loopback server and ``{refused}`` a port that refuses
    connections. With ``kill_server``, ``{server}`` is a server of the cell's own that is
    killed (SIGKILL) once it has served the healthy URLs and ``LIMIT`` requests are in
    flight on it.
    """

    name: str
    urls: tuple[str, ...]
    kinds: tuple[str, ...]
    kill_server: bool = False

    @property
    def first_failure(self) -> str:
        return next(kind for kind in self.kinds if kind != "ok")

    @property
    def timeout(self) -> float:
        """The ``timeout`` each request of the cell gets."""
        return TIMEOUT if "timeout" in self.kinds else GENEROUS


FAULTS: tuple[Fault, ...] = (
    Fault("5xx", ("{server}/bytes/10", "{server}/status/503") * 2, ("ok", "status") * 2),
    Fault("connection refused", ("{server}/bytes/10", "{refused}/") * 2, ("ok", "connect") * 2),
    Fault("closed mid-body", ("{server}/bytes/10", "{server}/drop") * 2, ("ok", "protocol") * 2),
    Fault("reset mid-body", ("{server}/bytes/10", "{server}/abort") * 2, ("ok", "read") * 2),
    Fault("response never comes", ("{server}/hang",) * 2, ("timeout",) * 2),
    # A byte every 100 ms: each read is quick, the body as a whole never ends in time.
    Fault("body trickled", ("{server}/trickle/1000?interval=100",) * 2, ("timeout",) * 2),
    # Killed once the healthy request is served and both hanging ones are in flight. (A
    # request started after the kill would find the port refusing, or accepted by a listening
    # socket the dying process has not closed yet and then reset: the kernel's race, not the
    # flavour's, so no cell depends on it.)
    Fault(
        "server killed", ("{server}/bytes/10", "{server}/hang", "{server}/hang"), ("ok", "protocol", "protocol"), True
    ),
)


def _kinds(results: Sequence[FetchResult]) -> str:
    ordered = sorted(results, key=lambda result: result.index)
    return " ".join("ok" if result.error is None else result.error.value for result in ordered)


async def _fetch_all(fanout: Any, urls: list[str], timeout: float) -> str:
    return _kinds(await fanout.fetch_all(urls, limit=LIMIT, timeout=timeout))


async def _fetch_as_completed(fanout: Any, urls: list[str], timeout: float) -> str:
    async with fanout.fetch_as_completed(urls, limit=LIMIT, timeout=timeout) as results:
        return _kinds([result async for result in results])


async def _fail_fast(fanout: Any, urls: list[str], timeout: float) -> str:
    try:
        return _kinds(await fanout.fetch_all(urls, limit=LIMIT, timeout=timeout, fail_fast=True))
    except FanoutError as error:
        return f"FanoutError({error.result.error.value if error.result.error else None})"


@dataclass(frozen=True)
class Call:
    """One way to call a workload: ``invoke(module, urls, timeout)`` returns the outcome as text."""

    name: str
    workload: str
    invoke: Callable[[Any, list[str], float], Awaitable[str]] = field(repr=False)

    def expected(self, fault: Fault) -> str:
        if self.name.endswith("fail_fast"):
            return f"FanoutError({fault.first_failure})"
        return " ".join(fault.kinds)


CALLS: tuple[Call, ...] = (
    Call("fetch_all", "fanout", _fetch_all),
    Call("fetch_as_completed", "fanout", _fetch_as_completed),
    Call("fetch_all fail_fast", "fanout", _fail_fast),
)


def bound_of(fault: Fault) -> float:
    """Seconds a cell may take: a worker meets at most ``ceil(timeouts / LIMIT)`` requests
    that only their ``timeout`` ends, one after the other; everything else, ``SLACK``."""
    return math.ceil(fault.kinds.count("timeout") / LIMIT) * fault.timeout + SLACK


@dataclass(frozen=True)
class Cell:
    """What one flavour did in one cell: the outcome and the seconds on its own clock."""

    outcome: str
    seconds: float


Runner = Callable[..., Any]
"""Runs a coroutine function on a flavour: ``Flavour.run`` or the suite's ``run`` fixture."""


def run_cell(
    flavour: Flavour, module: Any, call: Call, fault: Fault, server_url: str, refused: int, runner: Runner
) -> Cell:
    """Run one cell on ``flavour`` with ``runner``, ``module`` being its implementation of
    ``call.workload``; return the cell's outcome and duration."""
    bound = bound_of(fault)

    async def measured(urls: list[str]) -> Cell:
        outcome = "ran past its bound"

        async def invoke() -> None:
            nonlocal outcome
            try:
                outcome = await call.invoke(module, urls, fault.timeout)
            except Exception as error:  # any other error is a wrong outcome, shown as such
                outcome = f"raised {type(error).__name__}: {error}"

        started = await flavour.current_time()
        await flavour.cancelled_after(bound, invoke)
        return Cell(outcome, await flavour.current_time() - started)

    if not fault.kill_server:
        return runner(measured, _urls(fault, server_url, refused))  # type: ignore[no-any-return]
    with LoopbackServer() as doomed, _kill_when(doomed, served=fault.kinds.count("ok"), in_flight=LIMIT):
        return runner(measured, _urls(fault, doomed.url, refused))  # type: ignore[no-any-return]


def _urls(fault: Fault, server_url: str, refused: int) -> list[str]:
    return [url.format(server=server_url, refused=f"http://127.0.0.1:{refused}") for url in fault.urls]


@contextmanager
def _kill_when(server: LoopbackServer, *, served: int, in_flight: int) -> Iterator[None]:
    """SIGKILL the server from a thread once it has ``served`` requests and has ``in_flight`` in flight."""
    process = server.process
    assert process is not None
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            stats = server.stats()
            if stats.served >= served and stats.in_flight >= in_flight:
                process.kill()
                process.wait()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, name="fault-matrix-killer")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


@contextmanager
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that is bound but not listening, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@dataclass(frozen=True)
class FaultRow:
    """One cell of the matrix across flavours, for a report."""

    workload: str
    call: str
    fault: str
    expected: str
    bound: float
    observed: dict[str, Cell]

    @property
    def agrees(self) -> bool:
        """Every flavour gave the expected outcome within the bound."""
        return all(c.outcome == self.expected and c.seconds <= self.bound for c in self.observed.values())


def matrix(flavours: Sequence[Flavour] = FLAVOURS) -> list[FaultRow]:
    """Run every cell on every flavour (about a minute); return one row per cell."""
    rows = []
    with LoopbackServer() as server, refused_port() as refused:
        for fault in FAULTS:
            for call in CALLS:
                observed = {
                    flavour.name: run_cell(
                        flavour, flavour.workload(call.workload), call, fault, server.url, refused, flavour.run
                    )
                    for flavour in flavours
                }
                rows.append(
                    FaultRow(call.workload, call.name, fault.name, call.expected(fault), bound_of(fault), observed)
                )
    return rows
