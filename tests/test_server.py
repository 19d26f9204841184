"""The loopback server under hostile clients: where it listens, what it refuses, how much it holds.

These tests talk to the server over raw sockets, not through a workload, so they run once,
not per flavour. Each starts its own server, so the suite's shared one keeps its counters.
Every wait here ends on a condition the server reports (a response, a close, a counter);
the socket timeouts are backstops that turn a hang into a failure.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import socket
import time
from collections.abc import Iterator

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triptych.server import MAX_BYTES, MAX_HEAD, MAX_TRICKLE, MAX_WAIT_MS, LoopbackServer

BACKSTOP = 10.0
"""Seconds a socket waits before a test fails as hung (never what a test measures)."""
FUZZ_EXAMPLES = int(os.environ.get("TRIPTYCH_SERVER_FUZZ_EXAMPLES", "200"))
"""Fuzzed byte streams per loop; raise it for a longer hunt."""
HELD_CONNECTIONS = 5_000
CAP = 20
"""The connection cap of the server that shows how the excess is refused."""


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def hardened(request: pytest.FixtureRequest) -> Iterator[LoopbackServer]:
    """A server of the test's own, on each loop the server can run on, with a short head timeout."""
    with LoopbackServer(loop=request.param, head_timeout=0.5) as server:
        yield server


def _exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send ``data``, then read until the server closes; a reset ends the read like a close."""
    with socket.create_connection(("127.0.0.1", port), timeout=BACKSTOP) as sock:
        received = b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                received += chunk
        return received


def _responses(data: bytes) -> list[tuple[int, str, bytes]]:
    """Split what the server sent into (status, Connection header, body); fail on anything else.

    The last response may be cut short: the server may close with bytes unread, which resets
    the connection and can drop what it had sent.
    """
    found = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            break  # cut short by a reset
        status_line, *header_lines = head.decode("ascii").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers = dict(line.split(": ", 1) for line in header_lines)
        length = int(headers["Content-Length"])
        found.append((int(status), headers["Connection"], rest[:length]))
        data = rest[length:]
    return found


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=BACKSTOP)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _assert_healthy(server: LoopbackServer) -> None:
    """The server still answers a plain request, and nothing went wrong inside it."""
    assert server.process is not None
    assert server.process.poll() is None
    assert _get(server.port, "/bytes/3") == (200, b"xxx")
    stats = server.wait_idle()
    assert (stats.errors, stats.in_flight, stats.open_connections) == (0, 0, 0), stats


# --- Where it listens ----------------------------------------------------------------------


def _other_addresses() -> list[str]:
    """Every address of this machine but 127.0.0.1, plus another loopback one of each family."""
    found = {"127.0.0.2", "::1"}
    for addresses in psutil.net_if_addrs().values():
        found |= {a.address for a in addresses if a.family in (socket.AF_INET, socket.AF_INET6)}
    return sorted(found - {"127.0.0.1"})


def test_it_listens_on_127_0_0_1_only(hardened: LoopbackServer) -> None:
    assert hardened.process is not None
    listening = {c.laddr for c in psutil.Process(hardened.process.pid).net_connections() if c.status == "LISTEN"}
    assert listening == {("127.0.0.1", hardened.port)}
    others = _other_addresses()
    assert len(others) >= 2
    for address in others:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, hardened.port), timeout=BACKSTOP).close()
    assert _get(hardened.port, "/bytes/1") == (200, b"x")


# --- What it refuses -----------------------------------------------------------------------

UNBOUNDED = [
    (f"/bytes/{MAX_BYTES + 1}", f"/bytes/<n> must be from 0 to {MAX_BYTES}, got {MAX_BYTES + 1}"),
    (f"/bytes/{10**30}", f"/bytes/<n> must be from 0 to {MAX_BYTES}, got {10**30}"),
    ("/bytes/1?delay=86400000", f"delay must be from 0 to {MAX_WAIT_MS}, got 86400000"),
    ("/hang?delay=-5", f"delay must be a whole number from 0 to {MAX_WAIT_MS}, got '-5'"),
    ("/trickle/1000000000", f"/trickle/<n> must be from 0 to {MAX_TRICKLE}, got 1000000000"),
    ("/trickle/10?interval=1e9", f"interval must be a whole number from 0 to {MAX_WAIT_MS}, got '1e9'"),
    ("/hold/2?timeout=86400000", f"timeout must be from 0 to {MAX_WAIT_MS}, got 86400000"),
    ("/status/99999", "/status/<n> must be from 200 to 599, got 99999"),
    ("/bytes/1?size=5", "/bytes takes no parameter 'size'"),
]


@pytest.mark.parametrize(("path", "reason"), UNBOUNDED, ids=[path for path, _ in UNBOUNDED])
def test_unbounded_arguments_are_refused_before_any_work(hardened: LoopbackServer, path: str, reason: str) -> None:
    before = hardened.stats()

    assert _get(hardened.port, path) == (400, reason.encode())

    after = hardened.stats()
    assert after.refused == before.refused + 1
    assert (after.served, after.max_in_flight) == (before.served, before.max_in_flight)
    assert after.errors == 0


def test_memory_stays_bounded_under_a_pipelined_burst(hardened: LoopbackServer) -> None:
    assert hardened.process is not None
    server = psutil.Process(hardened.process.pid)
    hardened.reset()
    rss_before = server.memory_info().rss
    clients = 50
    # Each client asks for 5 of the largest bodies and reads none; the last request closes.
    burst = b"GET /bytes/%d HTTP/1.1\r\n\r\n" % MAX_BYTES * 4 + b"GET /bytes/1 HTTP/1.1\r\nConnection: close\r\n\r\n"
    with contextlib.ExitStack() as stack:
        for _ in range(clients):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", hardened.port), timeout=BACKSTOP))
            sock.sendall(burst)
        # Every client's first body is being written and waits for the client to read.
        while hardened.stats().write_paused < clients:
            time.sleep(0.01)
        grown = server.memory_info().rss - rss_before
        assert hardened.stats().write_paused == clients
    print(f"{clients} clients x 5 bodies of {MAX_BYTES >> 20} MiB unread; the server grew by {grown / 2**20:.1f} MiB")
    # Unbounded, that would be clients x 5 x 64 MiB; bounded, it is a few writes' worth each.
    assert grown < 64 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"
    _assert_healthy(hardened)
    assert hardened.stats().write_paused == 0


# --- Malformed requests --------------------------------------------------------------------

MALFORMED = {
    "garbage": (b"\x00\xff\x16\x03\x01 hello\r\n\r\n", 400),
    "request line of 1 MB": (b"GET /" + b"a" * 2**20 + b" HTTP/1.1\r\n\r\n", 414),
    "headers that never end": (b"GET / HTTP/1.1\r\n" + b"X-Again: and again\r\n" * (MAX_HEAD // 10), 431),
    "not HTTP/1": (b"GET /bytes/1 HTTP/2.0\r\n\r\n", 505),
    "not GET": (b"POST /bytes/1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    "with a body": (b"GET /bytes/1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
    "header without a colon": (b"GET /bytes/1 HTTP/1.1\r\nHost\r\n\r\n", 400),
}


@pytest.mark.parametrize(("request_bytes", "status"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_gets_an_error_and_a_close(
    hardened: LoopbackServer, request_bytes: bytes, status: int
) -> None:
    # Not half-closed: the server must close on its own.
    responses = _responses(_exchange(hardened.port, request_bytes, half_close=False))

    statuses = [(s, c) for s, c, _ in responses]
    if status in (414, 431):
        # The server closes with the rest of the head unread, so a reset may eat its answer.
        assert statuses in ([], [(status, "close")])
    else:
        assert statuses == [(status, "close")]
    assert all(b"\n" not in body for _, _, body in responses)
    _assert_healthy(hardened)


def test_a_slow_sender_is_cut_off(hardened: LoopbackServer) -> None:
    sent = 0
    with socket.create_connection(("127.0.0.1", hardened.port), timeout=BACKSTOP) as sock:
        sock.settimeout(0.05)
        received = b""
        # One byte at a time, never the end of the head; stop when the server answers.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while not received:
                sock.sendall(b"GET /bytes/1 HTTP/1.1\r\nX-Slow: "[sent : sent + 1] or b"a")
                sent += 1
                with contextlib.suppress(TimeoutError):
                    received = sock.recv(65536)
            sock.settimeout(BACKSTOP)
            while chunk := sock.recv(65536):
                received += chunk

    assert [(s, c) for s, c, _ in _responses(received)] == [(408, "close")]
    _assert_healthy(hardened)


# --- Fuzzing with raw bytes ----------------------------------------------------------------

_TOKENS = st.sampled_from(
    [b"GET", b"POST", b"get", b"", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b"\r\n", b"\n", b":", b"?", b"&"]
)
_PATHS = st.sampled_from(["bytes", "status", "drop", "abort", "hang", "trickle", "hold", "stats", "reset", "nope", ""])
_NUMBERS = st.one_of(
    st.integers(-5, 10**12).map(str), st.text(alphabet="0123456789eE-+.x%", max_size=12), st.just("9" * 5000)
)
_QUERIES = st.lists(
    st.tuples(st.sampled_from(["delay", "interval", "timeout", "status", "x", ""]), _NUMBERS), max_size=4
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
_TARGETS = st.builds(lambda p, n, q: f"/{p}/{n}?{q}".encode(), _PATHS, _NUMBERS, _QUERIES)
_HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            [b"Connection: close", b"Connection: keep-alive", b"Content-Length: 3", b"Transfer-Encoding: x"]
        ),
        st.binary(max_size=40),
    ),
    max_size=5,
)
_REQUESTS = st.builds(
    lambda method, target, version, headers: (
        b"%s %s %s\r\n%s\r\n\r\n" % (method, target, version, b"\r\n".join(headers))
    ),
    st.sampled_from([b"GET", b"GET", b"POST", b"\x00"]),
    _TARGETS,
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"xyz"]),
    _HEADERS,
)
_STREAMS = st.lists(st.one_of(_REQUESTS, _TOKENS, st.binary(max_size=200)), max_size=8).map(b"".join)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_STREAMS)
def test_fuzzed_bytes_get_responses_or_a_close_never_a_crash(hardened: LoopbackServer, data: bytes) -> None:
    # Half-closing ends whatever would wait (a delay, /hang, a partial head): the client went away.
    responses = _responses(_exchange(hardened.port, data))

    for status, connection, body in responses:
        assert 200 <= status <= 599
        assert connection in ("keep-alive", "close")
        assert b"\n" not in body or status == 200
    assert all(connection == "keep-alive" for _, connection, _ in responses[:-1])
    _assert_healthy(hardened)


# --- How many connections it holds ---------------------------------------------------------


@contextlib.contextmanager
def _open_files(needed: int) -> Iterator[None]:
    """Let this process open ``needed`` more sockets for the length of the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, psutil.Process().num_fds() + needed + 100)), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(port: int, count: int, stack: contextlib.ExitStack) -> list[socket.socket]:
    return [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=BACKSTOP)) for _ in range(count)]


def _ask_each(sockets: list[socket.socket], path: str) -> set[tuple[int, bytes]]:
    """Send one keep-alive request on every socket, then read every answer; return the distinct ones."""
    for sock in sockets:
        sock.sendall(b"GET %s HTTP/1.1\r\n\r\n" % path.encode())
    answers = set()
    for sock in sockets:
        response = http.client.HTTPResponse(sock)
        response.begin()
        answers.add((response.status, response.read()))
        response.close()
    return answers


def test_it_holds_5000_connections_at_once() -> None:
    with LoopbackServer() as server, _open_files(HELD_CONNECTIONS), contextlib.ExitStack() as stack:
        assert server.process is not None
        rss_before = psutil.Process(server.process.pid).memory_info().rss
        held = _connect(server.port, HELD_CONNECTIONS, stack)

        answers = _ask_each(held, "/bytes/1")

        assert answers == {(200, b"x")}
        stats = server.stats()
        # `connections` counts the one reading the stats; `open_connections` does not.
        assert (stats.open_connections, stats.connections) == (HELD_CONNECTIONS, HELD_CONNECTIONS + 1)
        assert (stats.refused_connections, stats.errors) == (0, 0)
        grown = psutil.Process(server.process.pid).memory_info().rss - rss_before
        print(f"{HELD_CONNECTIONS} connections held; the server grew by {grown / 2**20:.1f} MiB")
        assert grown < 10 * 1024 * HELD_CONNECTIONS, f"{grown / HELD_CONNECTIONS:.0f} bytes per connection"
        stack.close()
        assert server.wait_idle().open_connections == 0


def test_connections_past_the_cap_get_a_503() -> None:
    with LoopbackServer(max_connections=CAP) as server, contextlib.ExitStack() as stack:
        held = _connect(server.port, CAP, stack)
        assert _ask_each(held, "/bytes/1") == {(200, b"x")}

        excess = _exchange(server.port, b"GET /bytes/1 HTTP/1.1\r\n\r\n")

        reason = b"the server holds its maximum of %d connections" % CAP
        assert _responses(excess) == [(503, "close", reason)]
        # The held ones still answer, and once one of them goes a stats read gets through.
        assert _ask_each(held, "/bytes/2") == {(200, b"xx")}
        held.pop().close()
        stats = server.stats()
        assert (stats.open_connections, stats.max_connections, stats.errors) == (CAP - 1, CAP, 0)
        assert stats.refused_connections >= 1
