"""Contract: a length-framed TCP echo service and its client, on each library's own streams.

:class:`Streams` is the specification; ``impl_*/streams.py`` implement it with asyncio's
``start_server`` / ``open_connection``, Trio's ``serve_tcp`` / ``open_tcp_stream`` and
AnyIO's ``create_tcp_listener`` / ``connect_tcp``, on 127.0.0.1 only.

The wire format
---------------
A message travels as one frame: its length as 4 bytes, big-endian, then its bytes. The
server sends every frame back as it came. Frames make the end of a message explicit, so
"the peer left in the middle of a message" is a fact either side can see, and a length
(unlike a line) can carry any bytes and be checked against ``max_frame`` before a byte of
the message is read.

What the server holds in memory
-------------------------------
Each connection is one task that reads a whole frame, writes it back, and only then reads
the next. So while a write waits (the peer does not read, the kernel's buffers are full)
that connection reads nothing more, its peer's writes stall in turn, and the server holds
at most one frame per connection: backpressure end to end, with nothing to configure.
"Written" means what the library's write call promises when it returns: Trio's
``send_all`` when the kernel has taken every byte, asyncio's ``drain()`` and AnyIO's
``send()`` on asyncio when the transport holds less than its high-water mark (64 KiB by
default), so those two may keep up to that much more per connection in user space.

Everything here is data: the frame format, the counters, the reports and the errors are
plain Python, shared so the three implementations record the same things the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from shared.validation import require_bound, require_int

__all__ = [
    "HEADER",
    "HOST",
    "MAX_FRAME",
    "ConnectionReport",
    "EchoServer",
    "ErrorKind",
    "StreamError",
    "Streams",
    "frame",
]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("Connection", "check_echo_args", "check_server_args", "frame_length")
"""Support code for the implementations, not contract: argument checks and the counters
that the three packages share so that they record the same things the same way."""

HOST = "127.0.0.1"
"""The only address the server listens on and the client connects to."""
HEADER = 4
"""Bytes in a frame's length prefix."""
MAX_FRAME = 1 << 20
"""The default bound on a frame's length (1 MiB)."""


# --- The wire format -----------------------------------------------------------------------


class ErrorKind(enum.Enum):
    """Why a connection ended badly: the same kinds on every flavour."""

    CONNECT = "connect"
    """No connection could be made (client only)."""
    TRUNCATED = "truncated"
    """The peer's stream ended before the frames it owed: inside a frame, or (for the
    client) before every echo had come back."""
    RESET = "reset"
    """The connection broke: reset by the peer, or a write to a peer that has gone."""
    TIMEOUT = "timeout"
    """A whole frame did not arrive within ``read_timeout`` of starting to wait for it."""
    PROTOCOL = "protocol"
    """The peer broke the framing: a frame longer than ``max_frame``, or (for the client)
    a byte after the last echo."""
    SHUTDOWN = "shutdown"
    """The server's shutdown cancelled the connection (server only)."""


_DETAILS = {
    ErrorKind.CONNECT: "no connection could be made",
    ErrorKind.TRUNCATED: "the peer's stream ended before the frames it owed",
    ErrorKind.RESET: "the connection broke",
    ErrorKind.TIMEOUT: "no whole frame arrived within `read_timeout`",
    ErrorKind.PROTOCOL: "the peer broke the framing",
    ErrorKind.SHUTDOWN: "the server's shutdown cancelled the connection",
}


class StreamError(Exception):
    """A connection ended badly; :attr:`kind` says how, ``__cause__`` is the library's error
    (none when the framing itself was broken).

    The same type and message on every flavour: never an ``ExceptionGroup``, never the
    library's own exception.
    """

    def __init__(self, kind: ErrorKind) -> None:
        super().__init__(f"{kind.value}: {_DETAILS[kind]}")
        self.kind = kind


def frame(message: bytes) -> bytes:
    """``message`` as it travels: its length as :data:`HEADER` bytes, then the message."""
    return len(message).to_bytes(HEADER, "big") + message


def frame_length(header: bytes, max_frame: int) -> int:
    """The length a frame's header announces.

    Raises:
      StreamError: ``PROTOCOL`` if it is more than ``max_frame``.
    """
    length = int.from_bytes(header, "big")
    if length > max_frame:
        raise StreamError(ErrorKind.PROTOCOL)
    return length


# --- The server's counters -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """How one connection to the server went, from accept to close."""

    index: int
    """The connection's place in accept order, from 0."""
    frames: int
    """Frames echoed back whole."""
    bytes_echoed: int
    """Bytes written back (headers included)."""
    error: ErrorKind | None
    """None when the peer closed at a frame boundary and everything was echoed."""


class EchoServer:
    """A running echo server as its caller sees it: where it listens and what it has done.

    Plain data: each implementation decides where to update it. Counters count whole frames,
    headers included.
    """

    __slots__ = (
        "_reports",
        "accepted",
        "bytes_echoed",
        "bytes_received",
        "max_held",
        "open_connections",
        "port",
        "stopped_accepting",
        "writing",
    )

    def __init__(self, port: int) -> None:
        self.port = port
        """The port it listens on, on :data:`HOST`."""
        self.accepted = 0
        """Connections accepted so far."""
        self.open_connections = 0
        """Connections accepted and not yet closed."""
        self.bytes_received = 0
        """Bytes of whole frames read, on every connection."""
        self.bytes_echoed = 0
        """Bytes written back, on every connection."""
        self.writing = 0
        """Connections whose write has not returned yet: at a stall, those waiting for
        their peer to read."""
        self.max_held = 0
        """The most bytes one connection ever held: read, and not yet written back."""
        self.stopped_accepting = False
        """True once the shutdown has closed the listener: a connect is then refused."""
        self._reports: list[ConnectionReport] = []

    @property
    def reports(self) -> tuple[ConnectionReport, ...]:
        """Every closed connection's report, in the order they closed."""
        return tuple(self._reports)

    def accept(self) -> Connection:
        """For implementations: a connection was accepted; count it."""
        connection = Connection(self, self.accepted)
        self.accepted += 1
        self.open_connections += 1
        return connection


class Connection:
    """One connection's counters, kept by the implementation while it is open."""

    __slots__ = ("_frames", "_held", "_index", "_server", "_writing", "_written")

    def __init__(self, server: EchoServer, index: int) -> None:
        self._server, self._index = server, index
        self._frames = self._written = self._held = 0
        self._writing = False

    def received(self, size: int) -> None:
        """A whole frame of ``size`` bytes was read."""
        self._held += size
        self._server.bytes_received += size
        self._server.max_held = max(self._server.max_held, self._held)

    def writing(self) -> None:
        """The write of the frame just read is about to start."""
        self._writing = True
        self._server.writing += 1

    def written(self, size: int) -> None:
        """The write of a frame of ``size`` bytes returned."""
        self._writing = False
        self._server.writing -= 1
        self._held -= size
        self._frames += 1
        self._written += size
        self._server.bytes_echoed += size

    def closed(self, error: ErrorKind | None) -> None:
        """The connection is closed (a write it was in has ended too); file its report."""
        if self._writing:
            self._server.writing -= 1
        self._server.open_connections -= 1
        self._server._reports.append(ConnectionReport(self._index, self._frames, self._written, error))


# --- The contract --------------------------------------------------------------------------


class Streams(Protocol):
    """What ``impl_asyncio.streams``, ``impl_trio.streams`` and ``impl_anyio.streams`` provide."""

    def echo_server(
        self,
        *,
        port: int = 0,
        max_frame: int = MAX_FRAME,
        read_timeout: float | None = None,
        grace: float | None = 5.0,
    ) -> AbstractAsyncContextManager[EchoServer]:
        """Serve the echo protocol on :data:`HOST` while the ``async with`` block runs.

        Use it as::

            async with echo_server() as server:
                echoes = await echo(server.port, [b"hello"])

        - [streams.server.frames] The server listens before the block starts (``port=0`` picks a
          free port: :attr:`EchoServer.port` says which) and serves each connection in a task of
          its own, frame by frame: every frame comes back whole, in order, on the connection it
          came from, however the peer splits or merges its writes.
        - [streams.server.backpressure] Backpressure: a connection reads its next frame only
          once the last one has been written back, so a peer that does not read stops the server
          reading from it (its write waits: :attr:`EchoServer.writing`) and the server holds at
          most one frame per connection (:attr:`EchoServer.max_held`).
        - [streams.server.half_close] Half-close: when the peer ends its side at a frame
          boundary, the server writes back what it has read, then closes the connection (report
          ``error=None``).
        - [streams.server.errors] A connection ends alone, with its :class:`ErrorKind` in its
          report, when the peer leaves inside a frame (``TRUNCATED``), the connection breaks
          (``RESET``), a frame takes longer than ``read_timeout`` to arrive, counted from when
          the server starts to wait for it (``TIMEOUT``; None waits for ever), or announces more
          than ``max_frame`` bytes (``PROTOCOL``, before any of them is read). The other
          connections go on; nothing is raised.
        - [streams.server.shutdown] Leaving the block normally shuts the server down gracefully:
          the listener closes (:attr:`EchoServer.stopped_accepting`; a new connect is refused),
          the open connections get ``grace`` seconds to end on their own, and those still open
          then are cancelled (``SHUTDOWN``). It returns as soon as the last connection has
          closed, without waiting for the rest of the grace period. ``grace=0`` cancels them at
          once; None (or ``math.inf``) waits for them however long they take.
        - [streams.server.exception] Leaving the block with an exception or a cancellation
          cancels every connection at once (``SHUTDOWN``), waits for them to close, and lets the
          exception through as the very object raised, never in an ``ExceptionGroup`` (a group
          of the caller's own included; ``shared.errors``).
        - [streams.server.closed] When the block is left, every socket of the server is closed
          and every task of it has ended.

        Raises: [streams.server.args]
          TypeError: ``port`` or ``max_frame`` is not an int; ``read_timeout`` or ``grace``
            is not a number (or None).
          ValueError: ``port`` is not in 0..65535; ``max_frame`` < 1; ``read_timeout`` <= 0
            or NaN; ``grace`` < 0 or NaN.
          OSError: the port cannot be listened on (e.g. it is in use).
        """
        ...

    async def echo(
        self,
        port: int,
        messages: Iterable[bytes],
        *,
        window: int = 1,
        max_frame: int = MAX_FRAME,
        read_timeout: float | None = None,
    ) -> list[bytes]:
        """Send every message to the echo server on ``port`` and return the echoes, in order.

        - [streams.echo.window] One connection to :data:`HOST`: one task writes the messages as
          frames, the call itself reads the echoes. At most ``window`` messages are unanswered
          at once (``window=1``: one round trip per message; more: pipelined), so neither side
          ever holds more than ``window`` frames for the other.
        - [streams.echo.half_close] After the last message the client ends its side
          (half-close), reads the echoes still owed, and returns once the server has closed its
          side too.
        - [streams.echo.timeout] ``read_timeout`` bounds the wait for each echo, as for the
          server.
        - [streams.echo.errors] Failures raise :class:`StreamError` with the library's error as
          ``__cause__``: ``CONNECT`` (nothing listens on ``port``), ``TRUNCATED`` (the server
          closed before the last echo, or inside one), ``RESET``, ``TIMEOUT``, ``PROTOCOL`` (an
          echo longer than ``max_frame``, or a byte after the last echo). The connection is
          closed and the writing task has ended when it is raised.
        - [streams.echo.cancel] Cancelling the call closes the connection and propagates as
          cancellation.
        - [streams.echo.empty] No messages: connect, half-close, and return ``[]`` once the
          server has closed.

        Raises: [streams.echo.args]
          TypeError: ``port``, ``window`` or ``max_frame`` is not an int; ``messages`` is not
            an iterable of bytes; ``read_timeout`` is not a number or None.
          ValueError: ``port`` is not in 1..65535; ``window`` or ``max_frame`` < 1; a
            message is longer than ``max_frame``; ``read_timeout`` <= 0 or NaN.
          StreamError: the exchange failed.
        """
        ...


# --- Argument checks -----------------------------------------------------------------------


def _require_port(value: object, *, minimum: int) -> int:
    port = require_int("port", value, minimum=minimum)
    if port > 65535:
        raise ValueError(f"`port` must be <= 65535, got {port!r}")
    return port


def check_server_args(
    port: object, max_frame: object, read_timeout: object, grace: object
) -> tuple[int, int, float, float]:
    """Validate :meth:`Streams.echo_server`'s arguments; None (no bound) comes back as ``math.inf``."""
    return (
        _require_port(port, minimum=0),
        require_int("max_frame", max_frame, minimum=1),
        require_bound("read_timeout", read_timeout, zero=False),
        require_bound("grace", grace, zero=True),
    )


def check_echo_args(
    port: object, messages: Iterable[bytes], window: object, max_frame: object, read_timeout: object
) -> tuple[int, list[bytes], int, int, float]:
    """Validate :meth:`Streams.echo`'s arguments; return ``messages`` as a list and
    ``read_timeout`` as ``math.inf`` for None."""
    checked_port = _require_port(port, minimum=1)
    if isinstance(messages, bytes | bytearray | memoryview | str):
        raise TypeError("`messages` must be an iterable of bytes, not a single bytes or str")
    try:
        message_list = list(messages)
    except TypeError:
        raise TypeError(f"`messages` must be an iterable of bytes, got {messages!r}") from None
    checked_window = require_int("window", window, minimum=1)
    checked_max_frame = require_int("max_frame", max_frame, minimum=1)
    for index, message in enumerate(message_list):
        if not isinstance(message, bytes):
            raise TypeError(f"`messages[{index}]` must be bytes, got {message!r}")
        if len(message) > checked_max_frame:
            raise ValueError(
                f"`messages[{index}]` is {len(message)} bytes, more than `max_frame` ({checked_max_frame})"
            )
    checked_read_timeout = require_bound("read_timeout", read_timeout, zero=False)
    return checked_port, message_list, checked_window, checked_max_frame, checked_read_timeout
