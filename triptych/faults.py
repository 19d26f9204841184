"""The fault matrix: each network workload against each fault a peer can produce.

A cell is one way of calling a workload (:data:`CALLS`) against one of that workload's
faults (:data:`FAULTS`):

- fan-out (:class:`FanoutFault`): every cell fetches a few URLs of the loopback server with
  ``limit=2``; a fault that the caller's ``timeout`` must end (a response that never comes,
  a trickled body) is fetched with a ``timeout`` of :data:`TIMEOUT`; the others mix healthy
  URLs in, so a fault must fail only its own URLs, under a ``timeout`` of :data:`GENEROUS`
  that no request should come near (a short one would time out healthy requests on a
  loaded machine);
- TCP streams (:class:`StreamsFault`): every cell sends :data:`MESSAGES` to a faulty peer
  (``triptych.faultpeer``) with ``window=1`` and pipelined, with ``window=2``, and must
  raise one ``StreamError``; its ``read_timeout`` is :data:`TIMEOUT` where the timeout ends
  the fault, :data:`GENEROUS` elsewhere. The peer misbehaves on the first echo, before the
  client has sent its last message, so the end of the stream it then reads is the client
  closing its socket, not the client's half-close.

A cell holds when, on every flavour,

- the outcome is the one expected: each URL's result kind in input order (``"ok connect
  ok connect"``), or the exception raised (``"FanoutError(connect)"``,
  ``"StreamError(reset)"``);
- the call returned within a bound set by the caller's timeout, :func:`bound_of`, measured
  on the flavour's own clock inside its loop; the caller's own cancel scope ends a call that
  runs past it, and the outcome then reads ``"ran past its bound"``;
- nothing is left open (the behaviour suite checks tasks, threads and sockets around it);
  a streams peer checks from the far end that the client closed the connection, and a cell
  whose peer did not see the end it should adds what it saw to the outcome (``"...; the
  peer: still open"``).

``tests/test_faults.py`` asserts every cell on every flavour. :func:`matrix` runs the same
cells outside pytest and returns one :class:`FaultRow` per cell, with what each flavour did,
for a report to render as a table (faults down, calls across, a cell per flavour or one
mark when all agree)::

    rows = matrix()
    for row in rows:
        print(row.workload, row.fault, row.call, row.expected, row.agrees, row.observed)
"""

from __future__ import annotations

import functools
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.fanout import FanoutError, FetchResult
from shared.streams import StreamError, frame
from triptych.faultpeer import CLIENT_CLOSED, KILLED, PEER_RESET, faulty_peer
from triptych.flavours import FLAVOURS, Flavour
from triptych.server import LoopbackServer

__all__ = [
    "CALLS",
    "FAULTS",
    "GENEROUS",
    "LIMIT",
    "MESSAGES",
    "TIMEOUT",
    "Call",
    "Cell",
    "FanoutFault",
    "Fault",
    "FaultRow",
    "StreamsFault",
    "bound_of",
    "calls_of",
    "faults_of",
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
MESSAGES = (b"three echoes, #1", b"three echoes, #2", b"three echoes, #3")
"""What each streams cell sends: three messages, so that a window of 2 has two in flight
and the client has not half-closed when the peer misbehaves on the first."""
TRICKLE_INTERVAL = TIMEOUT / 4
"""Seconds between two bytes of a trickled echo: each comes well within :data:`TIMEOUT`,
the 20-byte frame as a whole five times too late."""
SLACK = 5.0
"""Seconds added to the bound for scheduling on a loaded machine: a call that ignores its
timeout never returns at all, so any finite slack catches it."""


@dataclass(frozen=True)
class FanoutFault:
    """One fault of the loopback server, as the URLs a cell fetches and the result kind each must get.

    In ``urls``, ``{server}`` is the loopback server and ``{refused}`` a port that refuses
    connections. With ``kill_server``, ``{server}`` is a server of the cell's own that is
    killed (SIGKILL) once it has served the healthy URLs and ``LIMIT`` requests are in
    flight on it.
    """

    name: str
    urls: tuple[str, ...]
    kinds: tuple[str, ...]
    kill_server: bool = False
    workload: ClassVar[str] = "fanout"

    @property
    def first_failure(self) -> str:
        return next(kind for kind in self.kinds if kind != "ok")

    @property
    def timeout(self) -> float:
        """The ``timeout`` each request of the cell gets."""
        return TIMEOUT if "timeout" in self.kinds else GENEROUS


@dataclass(frozen=True)
class StreamsFault:
    """One fault of the echo client's peer, as the ``triptych.faultpeer`` mode that makes it
    (None: nothing listens), the ``StreamError`` kind every call must raise, and how the
    peer must see the connection end."""

    name: str
    peer: str | None
    kind: str
    peer_end: str | None
    workload: ClassVar[str] = "streams"

    @property
    def timeout(self) -> float:
        """The ``read_timeout`` of the cell's call."""
        return TIMEOUT if self.kind == "timeout" else GENEROUS


Fault = FanoutFault | StreamsFault

FAULTS: tuple[Fault, ...] = (
    FanoutFault("5xx", ("{server}/bytes/10", "{server}/status/503") * 2, ("ok", "status") * 2),
    FanoutFault("connection refused", ("{server}/bytes/10", "{refused}/") * 2, ("ok", "connect") * 2),
    FanoutFault("closed mid-body", ("{server}/bytes/10", "{server}/drop") * 2, ("ok", "protocol") * 2),
    FanoutFault("reset mid-body", ("{server}/bytes/10", "{server}/abort") * 2, ("ok", "read") * 2),
    FanoutFault("response never comes", ("{server}/hang",) * 2, ("timeout",) * 2),
    # A byte every 100 ms: each read is quick, the body as a whole never ends in time.
    FanoutFault("body trickled", ("{server}/trickle/1000?interval=100",) * 2, ("timeout",) * 2),
    # Killed once the healthy request is served and both hanging ones are in flight. (A
    # request started after the kill would find the port refusing, or accepted by a listening
    # socket the dying process has not closed yet and then reset: the kernel's race, not the
    # flavour's, so no cell depends on it.)
    FanoutFault(
        "server killed", ("{server}/bytes/10", "{server}/hang", "{server}/hang"), ("ok", "protocol", "protocol"), True
    ),
    StreamsFault("connection refused", None, "connect", None),
    # Inside the first echo: its header and half its bytes, then the end of the stream.
    StreamsFault("closed mid-echo", "close", "truncated", CLIENT_CLOSED),
    StreamsFault("reset mid-echo", "reset", "reset", PEER_RESET),
    StreamsFault("echo never comes", "hang", "timeout", CLIENT_CLOSED),
    # A byte every 25 ms: each read is quick, the frame as a whole never ends in time.
    StreamsFault("echo trickled", "trickle", "timeout", CLIENT_CLOSED),
    StreamsFault("frame too long", "oversize", "protocol", CLIENT_CLOSED),
    # Killed with the client's first frame unread in its socket, so the kernel resets the
    # connection: why that is no race, see triptych.faultpeer.KilledPeer.
    StreamsFault("peer killed", "killed", "reset", KILLED),
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


async def _echo(streams: Any, port: int, timeout: float, *, window: int) -> str:
    try:
        echoes = await streams.echo(port, MESSAGES, window=window, read_timeout=timeout)
    except StreamError as error:
        return f"StreamError({error.kind.value})"
    return f"{len(echoes)} echoes"


@dataclass(frozen=True)
class Call:
    """One way to call a workload: ``invoke(module, target, timeout)`` returns the outcome as
    text; the target is the URLs to fetch (fan-out) or the peer's port (streams)."""

    name: str
    workload: str
    invoke: Callable[[Any, Any, float], Awaitable[str]] = field(repr=False)
    window: int = 1
    """Streams: the messages the client sends before it waits for an echo."""

    def expected(self, fault: Fault) -> str:
        if isinstance(fault, StreamsFault):
            return f"StreamError({fault.kind})"
        if self.name.endswith("fail_fast"):
            return f"FanoutError({fault.first_failure})"
        return " ".join(fault.kinds)


STREAMS_CALLS = (("echo", 1), ("echo window=2", 2))
"""The streams calls: a name and the ``window``."""

CALLS: tuple[Call, ...] = (
    Call("fetch_all", "fanout", _fetch_all),
    Call("fetch_as_completed", "fanout", _fetch_as_completed),
    Call("fetch_all fail_fast", "fanout", _fail_fast),
    *(Call(name, "streams", functools.partial(_echo, window=window), window) for name, window in STREAMS_CALLS),
)


def faults_of(workload: str) -> list[Fault]:
    """The faults of one workload, in matrix order."""
    return [fault for fault in FAULTS if fault.workload == workload]


def calls_of(workload: str) -> list[Call]:
    """The calls of one workload, in matrix order."""
    return [call for call in CALLS if call.workload == workload]


def bound_of(fault: Fault) -> float:
    """Seconds a cell may take. Fan-out: a worker meets at most ``ceil(timeouts / LIMIT)``
    requests that only their ``timeout`` ends, one after the other. Streams: the first echo
    is the one the fault holds back, so at most one ``read_timeout`` runs out. Everything
    else, ``SLACK``."""
    if isinstance(fault, StreamsFault):
        return (fault.timeout if fault.kind == "timeout" else 0) + SLACK
    return math.ceil(fault.kinds.count("timeout") / LIMIT) * fault.timeout + SLACK


@dataclass(frozen=True)
class Cell:
    """What one flavour did in one cell: the outcome and the seconds on its own clock."""

    outcome: str
    seconds: float


Runner = Callable[..., Any]
"""Runs a coroutine function on a flavour: ``Flavour.run`` or the suite's ``run`` fixture."""


def run_cell(
    flavour: Flavour,
    module: Any,
    call: Call,
    fault: Fault,
    runner: Runner,
    *,
    refused: int,
    server_url: str = "",
) -> Cell:
    """Run one cell on ``flavour`` with ``runner``, ``module`` being its implementation of
    ``call.workload``; return the cell's outcome and duration. ``refused`` is a port that
    refuses connections, ``server_url`` the loopback server (fan-out only)."""
    bound = bound_of(fault)

    async def measured(target: Any) -> Cell:
        outcome = "ran past its bound"

        async def invoke() -> None:
            nonlocal outcome
            try:
                outcome = await call.invoke(module, target, fault.timeout)
            except Exception as error:  # any other error is a wrong outcome, shown as such
                outcome = f"raised {type(error).__name__}: {error}"

        started = await flavour.current_time()
        await flavour.cancelled_after(bound, invoke)
        return Cell(outcome, await flavour.current_time() - started)

    if isinstance(fault, StreamsFault):
        return _with_peer(fault, call.window, refused, functools.partial(runner, measured))
    if not fault.kill_server:
        return runner(measured, _urls(fault, server_url, refused))  # type: ignore[no-any-return]
    with LoopbackServer() as doomed, _kill_when(doomed, served=fault.kinds.count("ok"), in_flight=LIMIT):
        return runner(measured, _urls(fault, doomed.url, refused))  # type: ignore[no-any-return]


def _with_peer(fault: StreamsFault, window: int, refused: int, run: Callable[[int], Cell]) -> Cell:
    """Run a streams cell against its faulty peer; add what the peer saw to the outcome when
    that is not the end the fault expects."""
    if fault.peer is None:
        return run(refused)
    frames = [frame(message) for message in MESSAGES[:window]]
    with faulty_peer(fault.peer, interval=TRICKLE_INTERVAL, frames=frames) as peer:
        cell = run(peer.port)
    if peer.ended != fault.peer_end:
        return Cell(f"{cell.outcome}; the peer: {peer.ended}", cell.seconds)
    return cell


def _urls(fault: FanoutFault, server_url: str, refused: int) -> list[str]:
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
    """Run every cell on every flavour (about 15 s here); return one row per cell."""
    rows = []
    with LoopbackServer() as server, refused_port() as refused:
        for fault in FAULTS:
            for call in calls_of(fault.workload):
                observed = {
                    flavour.name: run_cell(
                        flavour,
                        flavour.workload(call.workload),
                        call,
                        fault,
                        flavour.run,
                        refused=refused,
                        server_url=server.url,
                    )
                    for flavour in flavours
                }
                rows.append(
                    FaultRow(call.workload, call.name, fault.name, call.expected(fault), bound_of(fault), observed)
                )
    return rows
