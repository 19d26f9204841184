"""TCP echo behaviour (contract: shared.streams.Streams) on every flavour, over real loopback sockets.

The misbehaving peers are plain non-blocking sockets driven from inside the test's own
coroutine (:class:`RawPeer`, :class:`RawListener`): they never block the loop, they read
only when told to, and they can leave in the middle of a frame or reset the connection,
which no well-behaved client does. They wait by polling on the flavour's clock.

Real sockets do not move a virtual clock, so these tests run in real time, and no
assertion depends on how fast the machine is: a timeout only ever races a peer that will
never send, a grace period that must not run out is an hour long (the suite's timeout
would fail a call that waited for it), and a stall is a state that holds until the test
ends it, observed over many polls.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shared.streams import HOST, ConnectionReport, EchoServer, ErrorKind, StreamError, Streams, frame
from tests.helpers import Run
from triptych.flavours import Flavour

POLL = 0.001
"""Seconds between two looks at a socket or a counter."""
POLLS = 10_000
"""Looks before a wait is failed as hung: a backstop, not a measurement."""
FOREVER = 3600.0
"""A grace period or a sleep that only a cancellation ends."""
LARGE = bytes(range(256)) * 256
"""A 64 KiB message."""


async def _wait_until(flavour: Flavour, condition: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await flavour.sleep(POLL)
    raise AssertionError(f"never happened: {what}")


async def _concurrently(flavour: Flavour, *calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Await every call at once in the flavour's own task group; return their results in order."""
    results: list[Any] = [None] * len(calls)

    async def one(index: int) -> None:
        results[index] = await calls[index]()

    if flavour.library == "asyncio":
        import asyncio

        async with asyncio.TaskGroup() as tasks:
            for index in range(len(calls)):
                tasks.create_task(one(index))
    elif flavour.library == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for index in range(len(calls)):
                nursery.start_soon(one, index)
    else:
        import anyio

        async with anyio.create_task_group() as group:
            for index in range(len(calls)):
                group.start_soon(one, index)
    return results


class RawPeer:
    """One end of a connection as a plain non-blocking socket, polled on ``flavour``'s clock."""

    def __init__(self, flavour: Flavour, sock: socket.socket) -> None:
        self.flavour, self.sock = flavour, sock
        sock.setblocking(False)

    @classmethod
    def connect(cls, flavour: Flavour, port: int, *, buffer: int | None = None) -> RawPeer:
        sock = socket.socket()
        if buffer is not None:  # before connect(), so the window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        # The handshake completes in the kernel's backlog, whoever accepts and when.
        sock.connect((HOST, port))
        return cls(flavour, sock)

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def try_send(self, data: bytes | memoryview) -> int:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    def try_receive(self, size: int) -> bytes | None:
        """What has arrived (b"" at the end of the stream), or None if nothing has yet."""
        try:
            return self.sock.recv(size)
        except BlockingIOError:
            return None

    async def send(self, data: bytes) -> None:
        view, sent = memoryview(data), 0
        for _ in range(POLLS):
            sent += self.try_send(view[sent:])
            if sent == len(data):
                return
            await self.flavour.sleep(POLL)
        raise AssertionError(f"sent only {sent} of {len(data)} bytes")

    async def receive(self, size: int) -> bytes:
        received = bytearray()
        for _ in range(POLLS):
            chunk = self.try_receive(size - len(received))
            if chunk == b"":
                raise AssertionError(f"the stream ended after {len(received)} of {size} bytes")
            received += chunk or b""
            if len(received) == size:
                return bytes(received)
            if chunk is None:
                await self.flavour.sleep(POLL)
        raise AssertionError(f"received only {len(received)} of {size} bytes")

    async def receive_end(self) -> bytes:
        """Everything until the stream ends: by the peer's FIN, or by its reset (b"" then)."""
        received = bytearray()
        for _ in range(POLLS):
            try:
                chunk = self.try_receive(65536)
            except ConnectionResetError:
                return b""
            if chunk == b"":
                return bytes(received)
            received += chunk or b""
            if chunk is None:
                await self.flavour.sleep(POLL)
        raise AssertionError("the stream never ended")

    def end_sending(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Close with a reset (RST) instead of an orderly end (FIN)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class RawListener:
    """A plain listening socket on loopback that accepts only when told to."""

    def __init__(self, flavour: Flavour) -> None:
        self.flavour = flavour
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen()
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def __enter__(self) -> RawListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def try_accept(self) -> RawPeer | None:
        """The next connection, or None if nobody is waiting to be accepted."""
        try:
            sock, _ = self.sock.accept()
        except BlockingIOError:
            return None
        return RawPeer(self.flavour, sock)

    async def accept(self) -> RawPeer:
        for _ in range(POLLS):
            if (peer := self.try_accept()) is not None:
                return peer
            await self.flavour.sleep(POLL)
        raise AssertionError("nobody connected")


def _refused(port: int) -> bool:
    try:
        socket.create_connection((HOST, port)).close()
    except ConnectionRefusedError:
        return True
    return False


def _by_index(server: EchoServer) -> list[ConnectionReport]:
    return sorted(server.reports, key=lambda report: report.index)


# --- Every byte back, in order, per connection --------------------------------------------


@pytest.mark.clause("streams.server.frames", "streams.echo.window", "streams.echo.half_close")
def test_every_byte_comes_back_in_order_on_every_connection(flavour: Flavour, streams: Streams, run: Run) -> None:
    # Per client: empty, small and 64 KiB+ messages, each tagged with its client and place.
    loads = [
        [f"{client}:{n}:".encode() + bytes([n % 256]) * (n * 997 % 70_000) for n in range(client * 3, client * 3 + 12)]
        for client in range(6)
    ]
    loads[0].insert(0, b"")

    async def scenario() -> tuple[list[list[bytes]], EchoServer]:
        async with streams.echo_server() as server:
            calls = [
                lambda load=load, window=window: streams.echo(server.port, load, window=window)
                for load, window in zip(loads, [1, 1, 2, 4, 8, 100], strict=True)
            ]
            echoes = await _concurrently(flavour, *calls)
        return echoes, server

    echoes, server = run(scenario)

    assert echoes == loads
    reports = _by_index(server)
    assert sorted(r.frames for r in reports) == sorted(len(load) for load in loads)
    assert all(r.error is None for r in reports)
    total = sum(len(frame(message)) for load in loads for message in load)
    assert (server.accepted, server.open_connections) == (6, 0)
    assert server.bytes_received == server.bytes_echoed == sum(r.bytes_echoed for r in reports) == total


@pytest.mark.clause("streams.server.frames")
def test_frames_split_and_merged_by_the_peer_come_back_whole(flavour: Flavour, streams: Streams, run: Run) -> None:
    merged = [b"one", b"", b"three" * 1000]
    split = b"split into single bytes"

    async def scenario() -> tuple[bytes, bytes, EchoServer]:
        async with streams.echo_server() as server:
            with RawPeer.connect(flavour, server.port) as peer:
                wire = b"".join(frame(m) for m in merged)
                await peer.send(wire)
                first = await peer.receive(len(wire))
                for byte in frame(split):
                    await peer.send(bytes([byte]))
                    await flavour.sleep(0)
                peer.end_sending()
                rest = await peer.receive_end()
        return first, rest, server

    first, rest, server = run(scenario)

    assert first == b"".join(frame(m) for m in merged)
    assert rest == frame(split)
    assert server.reports == (ConnectionReport(0, 4, len(first) + len(rest), None),)


@pytest.mark.clause("streams.echo.empty")
def test_no_messages_give_no_echoes(streams: Streams, run: Run) -> None:
    async def scenario() -> tuple[list[bytes], EchoServer]:
        async with streams.echo_server() as server:
            echoes = await streams.echo(server.port, [])
        return echoes, server

    echoes, server = run(scenario)

    assert echoes == []
    assert server.reports == (ConnectionReport(0, 0, 0, None),)


# --- Backpressure -------------------------------------------------------------------------


@pytest.mark.clause("streams.server.backpressure")
def test_a_peer_that_does_not_read_holds_the_server_back(flavour: Flavour, streams: Streams, run: Run) -> None:
    wire = frame(LARGE) * 256  # 16 MiB: far more than the kernel buffers of both directions

    async def scenario() -> tuple[tuple[int, int, int], bytes, EchoServer]:
        async with streams.echo_server() as server:
            with RawPeer.connect(flavour, server.port, buffer=64 * 1024) as peer:
                # Push without ever reading until nothing moves any more: the peer cannot
                # send, and the server is waiting in a write and reads nothing.
                view, sent, still, last = memoryview(wire), 0, 0, None
                for _ in range(POLLS):
                    while (count := peer.try_send(view[sent : sent + 65536])) > 0:
                        sent += count
                    now = (sent, server.bytes_received, server.writing)
                    still, last = (still + 1 if now == last else 0), now
                    if still == 50:
                        break
                    await flavour.sleep(POLL)
                stalled = (server.bytes_received, server.writing, server.max_held)
                # Now read: everything flows again and comes back whole, in order.
                received = bytearray()
                while len(received) < len(wire):
                    count = peer.try_send(view[sent : sent + 65536])
                    sent += count
                    chunk = peer.try_receive(1 << 20) or b""
                    received += chunk
                    await flavour.sleep(0 if count or chunk else POLL)
                peer.end_sending()
                assert await peer.receive_end() == b""
        return stalled, bytes(received), server

    (received_at_stall, writing_at_stall, held_at_stall), echoed, server = run(scenario)

    # The stall: the one connection was waiting in a write, having read a fraction of the
    # load, and held one frame (read, not yet written) at most.
    assert writing_at_stall == 1
    assert received_at_stall < len(wire) // 2
    assert held_at_stall == server.max_held == len(frame(LARGE))
    assert echoed == wire
    assert server.reports == (ConnectionReport(0, 256, len(wire), None),)
    assert server.writing == 0


# --- Half-close ---------------------------------------------------------------------------


@pytest.mark.clause("streams.server.half_close")
def test_the_server_echoes_what_it_read_after_the_peer_ends_its_side(
    flavour: Flavour, streams: Streams, run: Run
) -> None:
    messages = [f"message {n}".encode() for n in range(5)]
    wire = b"".join(frame(m) for m in messages)

    async def scenario() -> tuple[bytes, EchoServer]:
        async with streams.echo_server() as server:
            with RawPeer.connect(flavour, server.port) as peer:
                # Everything, then the end of this side, before reading a single byte.
                await peer.send(wire)
                peer.end_sending()
                received = await peer.receive_end()
        return received, server

    received, server = run(scenario)

    assert received == wire
    assert server.reports == (ConnectionReport(0, 5, len(wire), None),)


# --- A peer that breaks off ends only its own connection ----------------------------------


@pytest.mark.parametrize(
    ("leave", "kind"), [("end", ErrorKind.TRUNCATED), ("reset", ErrorKind.RESET)], ids=["fin", "rst"]
)
@pytest.mark.clause("streams.server.errors")
def test_a_peer_leaving_mid_message_ends_only_its_own_connection(
    flavour: Flavour, streams: Streams, run: Run, leave: str, kind: ErrorKind
) -> None:
    async def scenario() -> tuple[bytes, EchoServer]:
        async with streams.echo_server() as server:
            with RawPeer.connect(flavour, server.port) as steady, RawPeer.connect(flavour, server.port) as leaver:
                await steady.send(frame(b"before"))
                assert await steady.receive(len(frame(b"before"))) == frame(b"before")
                await leaver.send(frame(b"a message of 27 bytes, half")[:16])
                await _wait_until(flavour, lambda: server.accepted == 2, "both connections accepted")
                if leave == "end":
                    leaver.end_sending()
                else:
                    leaver.abort()
                await _wait_until(flavour, lambda: len(server.reports) == 1, "the leaver's connection closed")
                # The other connection carries on as if nothing happened.
                await steady.send(frame(b"after"))
                steady.end_sending()
                rest = await steady.receive_end()
        return rest, server

    rest, server = run(scenario)

    assert rest == frame(b"after")
    assert server.reports == (
        ConnectionReport(1, 0, 0, kind),
        ConnectionReport(0, 2, len(frame(b"before") + frame(b"after")), None),
    )


@pytest.mark.clause("streams.server.errors")
def test_a_frame_longer_than_max_frame_ends_its_connection_unread(flavour: Flavour, streams: Streams, run: Run) -> None:
    async def scenario() -> tuple[bytes, EchoServer]:
        async with streams.echo_server(max_frame=100) as server:
            with RawPeer.connect(flavour, server.port) as peer:
                await peer.send(frame(b"x" * 100))
                received = await peer.receive(104)
                await peer.send((101).to_bytes(4, "big") + b"y" * 101)
                # The server closes with the body unread, which the kernel turns into a reset.
                assert await peer.receive_end() == b""
        return received, server

    received, server = run(scenario)

    assert received == frame(b"x" * 100)
    assert server.reports == (ConnectionReport(0, 1, 104, ErrorKind.PROTOCOL),)
    assert server.bytes_received == 104


# --- Read timeouts ------------------------------------------------------------------------


@pytest.mark.clause("streams.server.errors")
def test_a_peer_that_stops_sending_times_out_alone(flavour: Flavour, streams: Streams, run: Run) -> None:
    async def scenario() -> tuple[list[bytes], bytes, bytes, EchoServer]:
        async with streams.echo_server(read_timeout=0.2) as server:
            # Neither will ever send the rest, so the timeout fires however slow the machine.
            with RawPeer.connect(flavour, server.port) as silent, RawPeer.connect(flavour, server.port) as halfway:
                await halfway.send(frame(b"never finished")[:7])
                echoes = await streams.echo(server.port, [b"quick"] * 3)
                ends = await silent.receive_end(), await halfway.receive_end()
        return echoes, *ends, server

    echoes, silent_end, halfway_end, server = run(scenario)

    assert echoes == [b"quick"] * 3
    assert (silent_end, halfway_end) == (b"", b"")
    assert _by_index(server) == [
        ConnectionReport(0, 0, 0, ErrorKind.TIMEOUT),
        ConnectionReport(1, 0, 0, ErrorKind.TIMEOUT),
        ConnectionReport(2, 3, 3 * len(frame(b"quick")), None),
    ]


@pytest.mark.clause("streams.echo.timeout", "streams.server.errors")
def test_a_generous_read_timeout_leaves_a_working_exchange_alone(streams: Streams, run: Run) -> None:
    async def scenario() -> tuple[list[bytes], EchoServer]:
        async with streams.echo_server(read_timeout=30) as server:
            echoes = await streams.echo(server.port, [LARGE, b"small"] * 4, read_timeout=30)
        return echoes, server

    echoes, server = run(scenario)

    assert echoes == [LARGE, b"small"] * 4
    assert [r.error for r in server.reports] == [None]


@pytest.mark.clause("streams.echo.timeout", "streams.echo.errors")
def test_a_server_that_never_answers_times_the_client_out(flavour: Flavour, streams: Streams, run: Run) -> None:
    async def scenario() -> StreamError:
        # The kernel completes the handshake and takes the bytes; nobody ever answers.
        with RawListener(flavour) as listener, pytest.raises(StreamError) as caught:
            await streams.echo(listener.port, [b"hello?"], read_timeout=0.2)
        return caught.value

    error = run(scenario)

    assert type(error) is StreamError
    assert error.kind is ErrorKind.TIMEOUT
    assert str(error) == "timeout: no whole frame arrived within `read_timeout`"
    assert error.__cause__ is not None


# --- The client's errors ------------------------------------------------------------------


@pytest.mark.clause("streams.echo.errors")
def test_nothing_listening_is_a_connect_error(streams: Streams, run: Run) -> None:
    async def scenario(port: int) -> StreamError:
        with pytest.raises(StreamError) as caught:
            await streams.echo(port, [b"anyone?"])
        return caught.value

    with socket.socket() as bound:  # bound but not listening: a connect is refused at once
        bound.bind((HOST, 0))
        error = run(scenario, bound.getsockname()[1])

    assert (type(error), error.kind) == (StreamError, ErrorKind.CONNECT)
    assert isinstance(error.__cause__, OSError)


ANSWERS: dict[str, tuple[Callable[[bytes], bytes] | None, ErrorKind]] = {
    "half-an-echo": (lambda echo: echo[:-3], ErrorKind.TRUNCATED),
    "no-echo": (lambda echo: b"", ErrorKind.TRUNCATED),
    "an-extra-frame": (lambda echo: echo + frame(b"extra"), ErrorKind.PROTOCOL),
    "an-oversized-echo": (lambda echo: (1000).to_bytes(4, "big") + b"z" * 1000, ErrorKind.PROTOCOL),
    "reset": (None, ErrorKind.RESET),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.clause("streams.echo.errors")
def test_a_server_that_breaks_the_exchange_raises_one_shared_error(
    flavour: Flavour, streams: Streams, run: Run, answer: str
) -> None:
    make_answer, kind = ANSWERS[answer]
    message = b"a message"

    async def scenario() -> StreamError:
        with RawListener(flavour) as listener:

            async def client() -> StreamError:
                with pytest.raises(StreamError) as caught:
                    await streams.echo(listener.port, [message], max_frame=100)
                return caught.value

            async def broken_server() -> None:
                with await listener.accept() as peer:
                    # The client half-closes after its one message: read all of it first,
                    # so closing sends an orderly end, not a reset.
                    assert await peer.receive_end() == frame(message)
                    if make_answer is None:
                        peer.abort()
                    else:
                        await peer.send(make_answer(frame(message)))

            error, _ = await _concurrently(flavour, client, broken_server)
        assert isinstance(error, StreamError)
        return error

    error = run(scenario)

    assert type(error) is StreamError
    assert error.kind is kind
    assert str(error).startswith(f"{kind.value}: ")


# --- Shutdown -----------------------------------------------------------------------------


@pytest.mark.parametrize("grace", [0, 0.1])
@pytest.mark.clause("streams.server.shutdown")
def test_connections_still_open_when_the_grace_runs_out_are_cancelled(
    flavour: Flavour, streams: Streams, run: Run, grace: float
) -> None:
    async def scenario() -> tuple[bytes, bytes, EchoServer]:
        # The peers outlive the server: they see how it closed their connections.
        with contextlib.ExitStack() as peers:
            async with streams.echo_server(grace=grace) as server:
                idle = peers.enter_context(RawPeer.connect(flavour, server.port))
                midway = peers.enter_context(RawPeer.connect(flavour, server.port))
                await midway.send(frame(b"never finished")[:9])
                await _wait_until(flavour, lambda: server.accepted == 2, "both connections accepted")
            assert server.stopped_accepting
            return await idle.receive_end(), await midway.receive_end(), server

    idle_end, midway_end, server = run(scenario)

    assert (idle_end, midway_end) == (b"", b"")
    assert _by_index(server) == [
        ConnectionReport(0, 0, 0, ErrorKind.SHUTDOWN),
        ConnectionReport(1, 0, 0, ErrorKind.SHUTDOWN),
    ]
    assert (server.open_connections, server.writing) == (0, 0)
    assert _refused(server.port)


@pytest.mark.clause("streams.server.shutdown")
def test_a_connection_that_ends_within_the_grace_finishes_and_the_shutdown_returns_at_once(
    flavour: Flavour, streams: Streams, run: Run
) -> None:
    state: dict[str, Any] = {}

    async def serve() -> None:
        # An hour of grace: only the connection's own end can let the block go so soon.
        async with streams.echo_server(grace=FOREVER) as server:
            state["server"] = server
            await _wait_until(flavour, lambda: "peer" in state and server.accepted == 1, "the peer connected")

    async def finish() -> bytes:
        await _wait_until(flavour, lambda: "server" in state, "the server is up")
        server = state["server"]
        with RawPeer.connect(flavour, server.port) as peer:
            wire = frame(b"finished during the grace period")
            await peer.send(wire[:10])
            state["peer"] = peer
            await _wait_until(flavour, lambda: server.stopped_accepting, "the shutdown began")
            state["refused"] = _refused(server.port)
            await peer.send(wire[10:])
            peer.end_sending()
            return await peer.receive_end()

    async def scenario() -> bytes:
        _, echoed = await _concurrently(flavour, serve, finish)
        return bytes(echoed)

    echoed = run(scenario)

    wire = frame(b"finished during the grace period")
    assert echoed == wire
    assert state["refused"] is True
    assert state["server"].reports == (ConnectionReport(0, 1, len(wire), None),)


class Boom(Exception):
    pass


@pytest.mark.clause("streams.server.exception", "streams.server.closed")
def test_an_error_in_the_block_cancels_every_connection_at_once_and_comes_out_bare(
    flavour: Flavour, streams: Streams, run: Run
) -> None:
    seen: list[EchoServer] = []

    async def scenario() -> None:
        # The peer stays open: only the server can end its connection. An hour of grace
        # that must not be waited for: an error skips it.
        with contextlib.ExitStack() as peers:
            async with streams.echo_server(grace=FOREVER) as server:
                seen.append(server)
                peers.enter_context(RawPeer.connect(flavour, server.port))
                await _wait_until(flavour, lambda: server.accepted == 1, "the peer connected")
                raise Boom("in the block")

    with pytest.raises(Boom) as caught:
        run(scenario)

    assert type(caught.value) is Boom
    assert seen[0].reports == (ConnectionReport(0, 0, 0, ErrorKind.SHUTDOWN),)
    assert seen[0].open_connections == 0


@pytest.mark.clause("streams.server.exception", "streams.server.closed")
def test_a_cancel_from_outside_stops_the_server_and_its_connections(
    flavour: Flavour, streams: Streams, run: Run
) -> None:
    seen: list[EchoServer] = []

    async def serve_forever() -> None:
        with contextlib.ExitStack() as peers:
            async with streams.echo_server(grace=FOREVER) as server:
                seen.append(server)
                peer = peers.enter_context(RawPeer.connect(flavour, server.port))
                await peer.send(frame(b"ping"))
                assert await peer.receive(len(frame(b"ping"))) == frame(b"ping")
                await flavour.sleep(FOREVER)

    cancelled = run(flavour.cancelled_after, 0.2, serve_forever)

    assert cancelled is True
    assert seen[0].reports == (ConnectionReport(0, 1, len(frame(b"ping")), ErrorKind.SHUTDOWN),)
    assert _refused(seen[0].port)


@pytest.mark.clause("streams.echo.cancel")
def test_a_cancel_from_outside_stops_the_client(flavour: Flavour, streams: Streams, run: Run) -> None:
    sent = frame(b"unanswered")

    async def scenario() -> tuple[bool, bytes]:
        with RawListener(flavour) as listener:
            peers: list[RawPeer] = []
            received = bytearray()

            def waiting_for_its_echo() -> bool:  # the whole message is in: the client can only wait
                if not peers and (peer := listener.try_accept()) is not None:
                    peers.append(peer)
                if peers:
                    received.extend(peers[0].try_receive(len(sent) - len(received)) or b"")
                return len(received) == len(sent)

            # The cancel comes once the client waits, not after a time: a starved client may
            # not even have connected within a fixed 0.2 s.
            cancelled = await flavour.cancelled_when(waiting_for_its_echo, streams.echo, listener.port, [b"unanswered"])
            with peers[0] as peer:
                # The client closed its connection on its way out.
                return cancelled, bytes(received) + await peer.receive_end()

    cancelled, received = run(scenario)

    assert cancelled is True
    assert received == sent


# --- Bad input ----------------------------------------------------------------------------


SERVER_BAD_INPUT = [
    ({"port": -1}, ValueError, "`port` must be >= 0, got -1"),
    ({"port": 65536}, ValueError, "`port` must be <= 65535, got 65536"),
    ({"port": "80"}, TypeError, "`port` must be an int, got '80'"),
    ({"max_frame": 0}, ValueError, "`max_frame` must be >= 1, got 0"),
    ({"max_frame": 1.5}, TypeError, "`max_frame` must be an int, got 1.5"),
    ({"read_timeout": 0}, ValueError, "`read_timeout` must be > 0, got 0"),
    ({"read_timeout": "1s"}, TypeError, "`read_timeout` must be a number of seconds or None, got '1s'"),
    ({"grace": -1}, ValueError, "`grace` must be >= 0, got -1"),
    ({"grace": "5"}, TypeError, "`grace` must be a number of seconds or None, got '5'"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), SERVER_BAD_INPUT, ids=[m for _, _, m in SERVER_BAD_INPUT])
@pytest.mark.clause("streams.server.args")
def test_bad_server_input_fails_alike_everywhere(
    streams: Streams, run: Run, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async def scenario() -> None:
        async with streams.echo_server(**kwargs):
            raise AssertionError("the server started")

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)


ECHO_BAD_INPUT = [
    ({"port": 0}, ValueError, "`port` must be >= 1, got 0"),
    ({"port": None}, TypeError, "`port` must be an int, got None"),
    ({"messages": b"bytes"}, TypeError, "`messages` must be an iterable of bytes, not a single bytes or str"),
    ({"messages": 3}, TypeError, "`messages` must be an iterable of bytes, got 3"),
    ({"messages": [b"ok", "text"]}, TypeError, "`messages[1]` must be bytes, got 'text'"),
    ({"messages": [b"12345"], "max_frame": 4}, ValueError, "`messages[0]` is 5 bytes, more than `max_frame` (4)"),
    ({"window": 0}, ValueError, "`window` must be >= 1, got 0"),
    ({"window": True}, TypeError, "`window` must be an int, got True"),
    ({"read_timeout": -1}, ValueError, "`read_timeout` must be > 0, got -1"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), ECHO_BAD_INPUT, ids=[m for _, _, m in ECHO_BAD_INPUT])
@pytest.mark.clause("streams.echo.args")
def test_bad_client_input_fails_alike_everywhere(
    streams: Streams, run: Run, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    # A port nobody listens on: the checks must come before any connection is tried.
    kwargs = {"port": 9, "messages": [b"x"], **kwargs}

    async def scenario() -> None:
        await streams.echo(**kwargs)

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)
