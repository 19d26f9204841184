"""A length-framed TCP echo service and its client in raw Trio: ``serve_tcp``, ``open_tcp_stream``.

Contract and docstrings: :class:`shared.streams.Streams`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

import trio

from shared.errors import caller_code, one_error, surfaces_caller_errors
from shared.streams import (
    HEADER,
    HOST,
    MAX_FRAME,
    Connection,
    EchoServer,
    ErrorKind,
    StreamError,
    check_echo_args,
    check_server_args,
    frame,
    frame_length,
)

__all__ = ["echo_server", "echo"]


# --- Only in trio: a stream has no receive_exactly(); a buffer over receive_some() gives one ---

RECEIVE_SIZE = 65536
"""The most bytes one receive asks the kernel for."""


class _IncompleteRead(Exception):
    """The stream ended before the bytes asked for had all arrived."""


class _BufferedReceiveStream:
    """AnyIO's ``BufferedByteReceiveStream``, as far as this module needs it."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    @property
    def buffer(self) -> bytes:
        """Bytes received and not yet returned."""
        return bytes(self._buffer)

    async def receive_exactly(self, nbytes: int) -> bytes:
        while len(self._buffer) < nbytes:
            chunk = await self._stream.receive_some(RECEIVE_SIZE)
            if not chunk:
                raise _IncompleteRead
            self._buffer += chunk
        data = bytes(self._buffer[:nbytes])
        del self._buffer[:nbytes]
        return data


# --- Errors --------------------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    """Re-raise Trio's stream errors as the shared :class:`StreamError`."""
    try:
        yield
    except _IncompleteRead as exc:
        raise StreamError(ErrorKind.TRUNCATED) from exc
    except trio.BrokenResourceError as exc:
        raise StreamError(ErrorKind.RESET) from exc
    except trio.TooSlowError as exc:
        raise StreamError(ErrorKind.TIMEOUT) from exc


async def _connect(port: int) -> trio.SocketStream:
    try:
        return await trio.open_tcp_stream(HOST, port)
    except OSError as exc:
        raise StreamError(ErrorKind.CONNECT) from exc


# --- Frames --------------------------------------------------------------------------------


async def _read_frame(reader: _BufferedReceiveStream, max_frame: int, read_timeout: float) -> bytes | None:
    """The next whole frame, header included; None if the peer ended its side before it."""
    with _translated(), trio.fail_after(read_timeout):
        try:
            header = await reader.receive_exactly(HEADER)
        except _IncompleteRead:
            if not reader.buffer:
                return None
            raise
        return header + await reader.receive_exactly(frame_length(header, max_frame))


# --- The server ----------------------------------------------------------------------------


async def _echo_frames(
    reader: _BufferedReceiveStream,
    stream: trio.SocketStream,
    connection: Connection,
    max_frame: int,
    read_timeout: float,
) -> None:
    # One frame at a time: while send_all() waits for the peer to read, nothing more is read.
    while (data := await _read_frame(reader, max_frame, read_timeout)) is not None:
        connection.received(len(data))
        connection.writing()
        with _translated():
            await stream.send_all(data)
        connection.written(len(data))


async def _serve_connection(server: EchoServer, max_frame: int, read_timeout: float, stream: trio.SocketStream) -> None:
    connection = server.accept()
    error: ErrorKind | None = None
    try:
        async with stream:
            await _echo_frames(_BufferedReceiveStream(stream), stream, connection, max_frame, read_timeout)
    except StreamError as exc:
        error = exc.kind
    except trio.Cancelled:
        error = ErrorKind.SHUTDOWN
        raise
    finally:
        connection.closed(error)


# --- The client ----------------------------------------------------------------------------


async def _send_messages(stream: trio.SocketStream, messages: list[bytes], credits: trio.Semaphore) -> None:
    for message in messages:
        await credits.acquire()
        with _translated():
            await stream.send_all(frame(message))
    with _translated():
        await stream.send_eof()


async def _receive_echoes(
    reader: _BufferedReceiveStream, count: int, credits: trio.Semaphore, max_frame: int, read_timeout: float
) -> list[bytes]:
    echoes = []
    for _ in range(count):
        data = await _read_frame(reader, max_frame, read_timeout)
        if data is None:
            raise StreamError(ErrorKind.TRUNCATED)
        echoes.append(data[HEADER:])
        credits.release()
    if await _read_frame(reader, max_frame, read_timeout) is not None:
        raise StreamError(ErrorKind.PROTOCOL)
    return echoes


# --- Public API ----------------------------------------------------------------------------


@surfaces_caller_errors
@asynccontextmanager
async def echo_server(
    *,
    port: int = 0,
    max_frame: int = MAX_FRAME,
    read_timeout: float | None = None,
    grace: float | None = 5.0,
) -> AsyncIterator[EchoServer]:
    """Contract: :meth:`shared.streams.Streams.echo_server`."""
    port, max_frame, read_timeout, grace = check_server_args(port, max_frame, read_timeout, grace)
    server = EchoServer(port)
    handler = functools.partial(_serve_connection, server, max_frame, read_timeout)
    try:
        # Connections run in a nursery of their own, so they outlive the accept loop.
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as listening:
                serve = functools.partial(trio.serve_tcp, handler, port, host=HOST, handler_nursery=connections)
                listeners = await listening.start(serve)
                server.port = listeners[0].socket.getsockname()[1]
                try:
                    with caller_code():
                        yield server
                finally:
                    # serve_tcp() closes its listeners as it is cancelled.
                    listening.cancel_scope.cancel()
            server.stopped_accepting = True
            # The grace period ends at the deadline of the connections' scope; leaving the
            # nursery waits for them, however they end.
            connections.cancel_scope.deadline = trio.current_time() + grace
    except BaseExceptionGroup as group:
        # The nursery wraps the block's own error, even when alone.
        raise one_error(group)


async def echo(
    port: int,
    messages: Iterable[bytes],
    *,
    window: int = 1,
    max_frame: int = MAX_FRAME,
    read_timeout: float | None = None,
) -> list[bytes]:
    """Contract: :meth:`shared.streams.Streams.echo`."""
    port, message_list, window, max_frame, read_timeout = check_echo_args(
        port, messages, window, max_frame, read_timeout
    )
    stream = await _connect(port)
    credits = trio.Semaphore(window)
    try:
        async with stream, trio.open_nursery() as tasks:
            tasks.start_soon(_send_messages, stream, message_list, credits)
            reader = _BufferedReceiveStream(stream)
            echoes = await _receive_echoes(reader, len(message_list), credits, max_frame, read_timeout)
    except BaseExceptionGroup as group:
        # A failed read cancels the writer; the nursery wraps whatever came out of either.
        raise one_error(group, failure=StreamError)
    return echoes
