"""The behaviour suite's fixtures: the flavours, the workloads, the loopback server, and checks
that fail a test which leaks or makes asyncio complain.

Tests are plain functions that hand a coroutine function to ``run``; the flavour runs it
on its own loop. No async pytest plugin claims any test, so none can hijack another.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

import psutil
import pytest
from hypothesis import settings

from shared.cancellation import Cancellation
from shared.fanout import Fanout
from shared.locks import Locks
from shared.offload import Offload
from shared.pipeline import Pipeline
from shared.streams import Streams
from shared.timeouts import Timeouts
from tests.helpers import THREAD_EXIT, Run, threads_left
from triptych.flavours import FLAVOURS, Flavour
from triptych.server import LoopbackServer

# The fuzz tests' profiles (tests/test_fuzz.py). The regular suite runs a few fixed examples
# per workload, the same ones every run; `--hypothesis-profile=fuzz` (`nox -s fuzz`) explores
# at least 200 per workload and keeps the failing ones in Hypothesis's database.
settings.register_profile("quick", max_examples=5, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("fuzz", max_examples=200, deadline=None, print_blob=True)
settings.load_profile("quick")

# Tests send Ctrl-C (the divergence catalogue's probes, the interrupted comparison). A shell
# starts a background job (`nox -s tests &`) with SIGINT ignored, and Python then leaves it
# ignored: Trio, asyncio and the runner never see it, and those tests fail on a probe's
# timeout. Take it back, here and, by inheritance, in every process the suite starts.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=FLAVOURS, ids=[flavour.name for flavour in FLAVOURS])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    result: Flavour = request.param
    return result


# --- The workloads, typed as their contracts ---------------------------------------------
#
# One fixture per workload in shared.WORKLOADS: the flavour's implementation module, typed as
# the contract's Protocol so that mypy checks every call in the suite against it. The cast
# is honest: tests/test_parity.py has mypy check each module against its Protocol.


@pytest.fixture
def fanout(flavour: Flavour) -> Fanout:
    return cast("Fanout", flavour.workload("fanout"))


@pytest.fixture
def pipeline(flavour: Flavour) -> Pipeline:
    return cast("Pipeline", flavour.workload("pipeline"))


@pytest.fixture
def timeouts(flavour: Flavour) -> Timeouts:
    return cast("Timeouts", flavour.workload("timeouts"))


@pytest.fixture
def cancellation(flavour: Flavour) -> Cancellation:
    return cast("Cancellation", flavour.workload("cancellation"))


@pytest.fixture
def locks(flavour: Flavour) -> Locks:
    return cast("Locks", flavour.workload("locks"))


@pytest.fixture
def offload(flavour: Flavour) -> Offload:
    return cast("Offload", flavour.workload("offload"))


@pytest.fixture
def streams(flavour: Flavour) -> Streams:
    return cast("Streams", flavour.workload("streams"))


EAGER_DIVERGENCES = {
    "test_a_cancel_before_the_first_checkpoint_starts_no_job": (
        "asyncio+eager runs a job's first step inside create_task, so the job is past its first "
        "checkpoint (STARTED) before a timeout of 0 fires; the other flavours start none"
    ),
}
"""Tests whose contract clause does not hold under asyncio's eager task factory: each is a
divergence to pin in the catalogue. They run, and must fail (strict xfail), so a change shows."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        flavour = callspec.params.get("flavour") if callspec is not None else None
        reason = EAGER_DIVERGENCES.get(getattr(item, "originalname", ""))
        if isinstance(flavour, Flavour) and flavour.eager and reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, raises=AssertionError, strict=True))


@pytest.fixture
def run(flavour: Flavour) -> Run:
    """Run a coroutine function on the test's flavour (see :class:`Run`)."""
    return Run(flavour)


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


class _Kept(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_asyncio_complaints() -> Iterator[None]:
    """Fail a test during which asyncio logged a warning or an error: in debug mode, a callback
    that held the loop for more than ``SLOW_CALLBACK`` seconds; in any mode, a task destroyed
    while pending or an exception never retrieved. (A coroutine never awaited is a
    ``RuntimeWarning``, which the suite's ``filterwarnings = error`` already fails.)"""
    kept = _Kept(logging.WARNING)
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(kept)
    try:
        yield
    finally:
        asyncio_logger.removeHandler(kept)
    assert not kept.records, "asyncio complained: " + "; ".join(r.getMessage() for r in kept.records)


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a socket of its own behind."""
    threads, sockets = set(threading.enumerate()), _open_sockets()
    yield
    new_threads = threads_left(threads, exit_within=THREAD_EXIT)
    assert not new_threads, f"threads left running: {new_threads}"
    new_sockets = _open_sockets() - sockets
    assert not new_sockets, f"sockets left open: {new_sockets}"
