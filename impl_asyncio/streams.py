"""A length-framed TCP echo service and its client in raw asyncio: ``start_server``, ``open_connection``.

Contract and docstrings: :class:`shared.streams.Streams`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

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


# --- Only in asyncio: a StreamWriter is no async context manager; this closes one like it ---


@asynccontextmanager
async def _closing(writer: asyncio.StreamWriter) -> AsyncIterator[None]:
    try:
        yield
    finally:
        writer.close()
        # wait_closed() re-raises what the connection died of, which has been dealt with
        # (an OSError: ENOTCONN, not a ConnectionError, when the half-close met a reset).
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- Errors --------------------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    """Re-raise asyncio's stream errors as the shared :class:`StreamError`."""
    try:
        yield
    except asyncio.IncompleteReadError as exc:
        raise StreamError(ErrorKind.TRUNCATED) from exc
    except ConnectionError as exc:
        raise StreamError(ErrorKind.RESET) from exc
    except TimeoutError as exc:
        raise StreamError(ErrorKind.TIMEOUT) from exc


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_connection(HOST, port)
    except OSError as exc:
        raise StreamError(ErrorKind.CONNECT) from exc


# --- Frames --------------------------------------------------------------------------------


async def _read_frame(reader: asyncio.StreamReader, max_frame: int, read_timeout: float) -> bytes | None:
    """The next whole frame, header included; None if the peer ended its side before it."""
    # A `with` and an `async with` cannot share a statement: the translation wraps the timeout.
    with _translated():
        async with asyncio.timeout(read_timeout):
            try:
                header = await reader.readexactly(HEADER)
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    return None
                raise
            return header + await reader.readexactly(frame_length(header, max_frame))


# --- The server ----------------------------------------------------------------------------


async def _echo_frames(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    connection: Connection,
    max_frame: int,
    read_timeout: float,
) -> None:
    # One frame at a time: while drain() waits for the peer to read, nothing more is read.
    while (data := await _read_frame(reader, max_frame, read_timeout)) is not None:
        connection.received(len(data))
        connection.writing()
        with _translated():
            writer.write(data)
            await writer.drain()
        connection.written(len(data))


async def _serve_connection(
    server: EchoServer,
    max_frame: int,
    read_timeout: float,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    connection = server.accept()
    error: ErrorKind | None = None
    try:
        async with _closing(writer):
            await _echo_frames(reader, writer, connection, max_frame, read_timeout)
    except StreamError as exc:
        error = exc.kind
    except asyncio.CancelledError:
        error = ErrorKind.SHUTDOWN
        raise
    finally:
        connection.closed(error)


# --- The client ----------------------------------------------------------------------------


async def _send_messages(writer: asyncio.StreamWriter, messages: list[bytes], credits: asyncio.Semaphore) -> None:
    for message in messages:
        await credits.acquire()
        with _translated():
            writer.write(frame(message))
            await writer.drain()
    with _translated():
        writer.write_eof()


async def _receive_echoes(
    reader: asyncio.StreamReader, count: int, credits: asyncio.Semaphore, max_frame: int, read_timeout: float
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
    # asyncio.wait() needs the tasks themselves: a TaskGroup does not list them.
    running: set[asyncio.Task[None]] = set()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # start_server() would run a coroutine callback as a task of no group: start it in
        # ours. A connection whose accept raced with close() is closed, not started.
        if not listener.is_serving():
            writer.close()
            return
        task = connections.create_task(handler(reader, writer))
        running.add(task)
        task.add_done_callback(running.discard)

    try:
        # Connections run in a TaskGroup of their own, so they outlive the accept loop.
        async with asyncio.TaskGroup() as connections:
            listener = await asyncio.start_server(accepted, HOST, port)
            server.port = listener.sockets[0].getsockname()[1]
            try:
                with caller_code():
                    yield server
            finally:
                listener.close()
            server.stopped_accepting = True
            # A TaskGroup has no deadline of its own: wait for its tasks with a timeout,
            # then cancel those left; leaving the TaskGroup waits for them.
            if running:
                _, unfinished = await asyncio.wait(running, timeout=grace)
                for task in unfinished:
                    task.cancel()
        # Since Python 3.12 this also waits for every connection's transport to close.
        await listener.wait_closed()
    except BaseExceptionGroup as group:
        # The TaskGroup wraps the block's own error, even when alone.
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
    reader, writer = await _connect(port)
    credits = asyncio.Semaphore(window)
    try:
        async with _closing(writer), asyncio.TaskGroup() as tasks:
            tasks.create_task(_send_messages(writer, message_list, credits))
            echoes = await _receive_echoes(reader, len(message_list), credits, max_frame, read_timeout)
    except BaseExceptionGroup as group:
        # A failed read cancels the writer; the TaskGroup wraps whatever came out of either.
        raise one_error(group, failure=StreamError)
    return echoes
