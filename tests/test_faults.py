"""The fault matrix (triptych.faults) on every flavour: each network workload against each fault.

Each cell must give the same outcome on every flavour, within the bound the caller's timeout
sets (measured on the flavour's own clock, inside its loop), and leave nothing open: the
``run`` fixture fails a leftover task, ``_no_leaks`` a thread or socket, ``server`` a
request or connection still open at the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.fanout import Fanout
from tests.helpers import Run
from triptych.faults import CALLS, FAULTS, Call, Fault, bound_of, refused_port, run_cell
from triptych.flavours import Flavour
from triptych.server import LoopbackServer


@pytest.fixture
def refused() -> Iterator[int]:
    with refused_port() as port:
        yield port


@pytest.mark.parametrize("call", CALLS, ids=[call.name for call in CALLS])
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
@pytest.mark.clause("fanout.failures", "fanout.timeout", "fanout.fail_fast", "fanout.left_running")
def test_every_flavour_meets_the_fault_alike(
    flavour: Flavour, fanout: Fanout, run: Run, server: LoopbackServer, refused: int, call: Call, fault: Fault
) -> None:
    cell = run_cell(flavour, fanout, call, fault, server.url, refused, run)

    assert cell.outcome == call.expected(fault)
    assert cell.seconds <= bound_of(fault)
    if "timeout" in fault.kinds:
        # The timeout ended it; a timer may fire a little early on uvloop's real clock, never
        # by a whole millisecond.
        assert cell.seconds >= fault.timeout - 0.001


def test_the_matrix_covers_every_fault_the_issue_names() -> None:
    assert [fault.name for fault in FAULTS] == [
        "5xx",
        "connection refused",
        "closed mid-body",
        "reset mid-body",
        "response never comes",
        "body trickled",
        "server killed",
    ]
    assert {call.workload for call in CALLS} == {"fanout"}
