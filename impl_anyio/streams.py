"""A length-framed TCP echo service and its client in AnyIO: ``create_tcp_listener``, ``connect_tcp``.

Contract and docstrings: :class:`shared.streams.Streams`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

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

# --- Errors --------------------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    """Re-raise AnyIO's stream errors as the shared :class:`StreamError`."""
    try:
        yield
    except anyio.IncompleteRead as exc:
        raise StreamError(ErrorKind.TRUNCATED) from exc
    except anyio.BrokenResourceError as exc:
        raise StreamError(ErrorKind.RESET) from exc
    except TimeoutError as exc:
        raise StreamError(ErrorKind.TIMEOUT) from exc
    except OSError as exc:
        # AnyIO on Trio lets the socket's own error out of send_eof() (ENOTCONN once reset).
        raise StreamError(ErrorKind.RESET) from exc


async def _connect(port: int) -> SocketStream:
    try:
        return await anyio.connect_tcp(HOST, port)
    except OSError as exc:
        raise StreamError(ErrorKind.CONNECT) from exc


# --- Frames --------------------------------------------------------------------------------


async def _read_frame(reader: BufferedByteReceiveStream, max_frame: int, read_timeout: float) -> bytes | None:
    """The next whole frame, header included; None if the peer ended its side before it."""
    with _translated(), anyio.fail_after(read_timeout):
        try:
            header = await reader.receive_exactly(HEADER)
        except anyio.IncompleteRead:
            if not reader.buffer:
                return None
            raise
        return header + await reader.receive_exactly(frame_length(header, max_frame))


# --- The server ----------------------------------------------------------------------------


async def _echo_frames(
    reader: BufferedByteReceiveStream,
    stream: SocketStream,
    connection: Connection,
    max_frame: int,
    read_timeout: float,
) -> None:
    # One frame at a time: while send() waits for the peer to read, nothing more is read.
    while (data := await _read_frame(reader, max_frame, read_timeout)) is not None:
        connection.received(len(data))
        connection.writing()
        with _translated():
            await stream.send(data)
        connection.written(len(data))


async def _serve_connection(server: EchoServer, max_frame: int, read_timeout: float, stream: SocketStream) -> None:
    connection = server.accept()
    error: ErrorKind | None = None
    try:
        async with stream:
            await _echo_frames(BufferedByteReceiveStream(stream), stream, connection, max_frame, read_timeout)
    except StreamError as exc:
        error = exc.kind
    except anyio.get_cancelled_exc_class():
        error = ErrorKind.SHUTDOWN
        raise
    finally:
        connection.closed(error)


# --- The client ----------------------------------------------------------------------------


async def _send_messages(stream: SocketStream, messages: list[bytes], credits: anyio.Semaphore) -> None:
    for message in messages:
        await credits.acquire()
        with _translated():
            await stream.send(frame(message))
    with _translated():
        await stream.send_eof()


async def _receive_echoes(
    reader: BufferedByteReceiveStream, count: int, credits: anyio.Semaphore, max_frame: int, read_timeout: float
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
        # Connections run in a task group of their own, so they outlive the accept loop.
        async with anyio.create_task_group() as connections:
            listener = await anyio.create_tcp_listener(local_host=HOST, local_port=port)
            # serve() leaves its listener open when it is cancelled: `async with` closes it.
            async with listener, anyio.create_task_group() as listening:
                listening.start_soon(listener.serve, handler, connections)
                server.port = listener.extra(SocketAttribute.local_port)
                try:
                    with caller_code():
                        yield server
                finally:
                    listening.cancel_scope.cancel()
            server.stopped_accepting = True
            # The grace period ends at the deadline of the connections' scope; leaving the
            # task group waits for them, however they end.
            connections.cancel_scope.deadline = anyio.current_time() + grace
    except BaseExceptionGroup as group:
        # The task group wraps the block's own error, even when alone.
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
    credits = anyio.Semaphore(window)
    try:
        async with stream, anyio.create_task_group() as tasks:
            tasks.start_soon(_send_messages, stream, message_list, credits)
            reader = BufferedByteReceiveStream(stream)
            echoes = await _receive_echoes(reader, len(message_list), credits, max_frame, read_timeout)
    except BaseExceptionGroup as group:
        # A failed read cancels the writer; the task group wraps whatever came out of either.
        raise one_error(group, failure=StreamError)
    return echoes
