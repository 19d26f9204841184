"""The fault matrix (triptych.faults) on every flavour: each network workload against each fault.

Each cell must give the same outcome on every flavour, within the bound the caller's timeout
sets (measured on the flavour's own clock, inside its loop), and leave nothing open: the
``run`` fixture fails a leftover task, ``_no_leaks`` a thread or socket (the streams' faulty
peers run in this process, so theirs too), ``server`` a request or connection still open at
the server, and a streams peer that did not see the connection end as its fault expects
(the client closing it, in most) adds what it saw to the outcome.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shared.fanout import Fanout
from shared.streams import HOST, Streams, frame
from tests.helpers import Run
from triptych.faultpeer import CLIENT_CLOSED, ENDS_WITHIN, STILL_OPEN, ThreadPeer
from triptych.faults import (
    CALLS,
    FAULTS,
    TIMEOUT,
    Call,
    Cell,
    Fault,
    bound_of,
    calls_of,
    faults_of,
    refused_port,
    run_cell,
)
from triptych.flavours import Flavour
from triptych.server import LoopbackServer

FANOUT_CALLS, FANOUT_FAULTS = calls_of("fanout"), faults_of("fanout")
STREAMS_CALLS, STREAMS_FAULTS = calls_of("streams"), faults_of("streams")


@pytest.fixture
def refused() -> Iterator[int]:
    with refused_port() as port:
        yield port


def _assert_holds(cell: Cell, call: Call, fault: Fault) -> None:
    assert cell.outcome == call.expected(fault)
    assert cell.seconds <= bound_of(fault)
    if fault.timeout == TIMEOUT:
        # The timeout ended it; a timer may fire a little early on uvloop's real clock, never
        # by a whole millisecond.
        assert cell.seconds >= fault.timeout - 0.001


@pytest.mark.parametrize("call", FANOUT_CALLS, ids=[call.name for call in FANOUT_CALLS])
@pytest.mark.parametrize("fault", FANOUT_FAULTS, ids=[fault.name for fault in FANOUT_FAULTS])
@pytest.mark.clause("fanout.failures", "fanout.timeout", "fanout.fail_fast", "fanout.left_running")
def test_every_flavour_meets_the_fault_alike(
    flavour: Flavour, fanout: Fanout, run: Run, server: LoopbackServer, refused: int, call: Call, fault: Fault
) -> None:
    _assert_holds(run_cell(flavour, fanout, call, fault, run, refused=refused, server_url=server.url), call, fault)


@pytest.mark.parametrize("call", STREAMS_CALLS, ids=[call.name for call in STREAMS_CALLS])
@pytest.mark.parametrize("fault", STREAMS_FAULTS, ids=[fault.name for fault in STREAMS_FAULTS])
@pytest.mark.clause("streams.echo.errors", "streams.echo.timeout", "streams.echo.window")
def test_every_flavour_meets_the_streams_fault_alike(
    flavour: Flavour, streams: Streams, run: Run, refused: int, call: Call, fault: Fault
) -> None:
    # The outcome also carries the peer's view of the end when it is not the fault's: this
    # asserts that the peer saw the client close the connection (or reset or died itself).
    _assert_holds(run_cell(flavour, streams, call, fault, run, refused=refused), call, fault)


@pytest.mark.parametrize(("closes", "ended"), [(True, CLIENT_CLOSED), (False, STILL_OPEN)], ids=["closes", "stays"])
def test_a_peer_tells_a_client_that_closed_from_one_that_left_the_connection_open(closes: bool, ended: str) -> None:
    # The check the streams cells rely on, shown able to fail: a raw client that closes its
    # socket, and one that keeps it open past the peer's backstop (cut to 0 s here).
    with socket.socket() as client:
        with ThreadPeer("hang", interval=TIMEOUT, ends_within=ENDS_WITHIN if closes else 0.0) as peer:
            client.connect((HOST, peer.port))
            client.sendall(frame(b"hello"))
            if closes:
                client.close()
        assert peer.ended == ended


def test_the_matrix_covers_every_fault_the_issue_names() -> None:
    assert [(fault.workload, fault.name) for fault in FAULTS] == [
        ("fanout", "5xx"),
        ("fanout", "connection refused"),
        ("fanout", "closed mid-body"),
        ("fanout", "reset mid-body"),
        ("fanout", "response never comes"),
        ("fanout", "body trickled"),
        ("fanout", "server killed"),
        ("streams", "connection refused"),
        ("streams", "closed mid-echo"),
        ("streams", "reset mid-echo"),
        ("streams", "echo never comes"),
        ("streams", "echo trickled"),
        ("streams", "frame too long"),
        ("streams", "peer killed"),
    ]
    assert [(call.workload, call.name) for call in CALLS] == [
        ("fanout", "fetch_all"),
        ("fanout", "fetch_as_completed"),
        ("fanout", "fetch_all fail_fast"),
        ("streams", "echo"),
        ("streams", "echo window=2"),
    ]
