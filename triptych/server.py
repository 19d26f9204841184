"""The loopback HTTP/1.1 server that the behaviour suite and the benchmarks fetch from.

It only ever runs as its own process (``python -m triptych.server``), so its CPU is never
the client's, and no ``impl_*`` module imports it. It is a bare ``asyncio.Protocol`` on
uvloop when uvloop is installed: a framework server (uvicorn + h11) saturates near
9,500 req/s, about what aiohttp can ask of it, while this one stays well below a core at
that rate.

Endpoints (``GET``; every one accepts ``?delay=<ms>`` before it starts to answer)::

    /bytes/<n>                 200 with an n-byte body
    /status/<code>             that status (200-599), with a short body (none for 204 and 304)
    /drop                      headers promising 64 KiB, 1 KiB of it, then the connection closes
    /abort                     the same, then the connection is reset (TCP RST)
    /hang                      never answers; the request ends when the client goes away
    /trickle/<n>?interval=<ms> n bytes, one every `interval` ms (default 10)
    /hold/<n>                  held until n requests have been in flight at once since the
                               last reset, then 200 or ?status=<code> (504 after
                               ?timeout=<ms>, default 30 s)
    /stats                     JSON counters (not counted themselves)
    /reset                     zero ``served``, ``connections`` and ``max_in_flight``

Counters: ``served`` responses finished, ``in_flight`` requests between their last header
byte and their last response byte, ``max_in_flight`` since the last reset,
``open_connections`` now (not counting the one asking), ``connections`` accepted since the
last reset, ``refused`` requests the server turned down itself (a 4xx or 5xx that no
``/status`` asked for), ``refused_connections`` connections beyond the cap,
``max_connections`` the cap, ``write_paused`` connections whose response waits for the
client to read, ``errors`` exceptions no handler expected (a bug if not 0), and
``cpu_seconds`` the server process has used in all.

Hardening: the server listens on 127.0.0.1 only. Nothing a client sends can make it allocate
or wait without bound: an argument past its bound (``MAX_BYTES``, ``MAX_WAIT_MS``,
``MAX_TRICKLE``) is refused with a 400 and a one-line reason before any work; a request head
longer than ``MAX_HEAD`` gets a 414 or 431, one not finished within ``head_timeout`` a 408,
a request that is not HTTP/1.x ``GET`` without a body a 400, 405 or 505, and each of those
closes the connection. Bodies go out in ``CHUNK``-sized writes that wait for the client to
read, and at most ``MAX_QUEUED`` pipelined requests are read ahead, so one connection holds
a bounded amount of memory however it behaves. Past ``max_connections`` open connections a
new one is answered with a 503 and closed. Idle keep-alive connections are kept.

:class:`LoopbackServer` starts the process on a free port of 127.0.0.1 and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import http.client
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackServer", "ServerStats", "fetch_stats"]

HOST = "127.0.0.1"
DROP_PROMISED = 64 * 1024
DROP_SENT = 1024

MAX_HEAD = 8 * 1024
"""Bytes in a request line plus its headers."""
MAX_BYTES = 64 * 1024 * 1024
"""The largest ``/bytes/<n>``."""
MAX_WAIT_MS = 60_000
"""The largest ``delay``, ``interval`` and ``timeout``, in milliseconds."""
MAX_TRICKLE = 10_000
"""The most bytes ``/trickle/<n>`` sends."""
MAX_CONNECTIONS = 10_000
"""Open connections held at once by default; more are answered with a 503 and closed."""
HEAD_TIMEOUT = 10.0
"""Seconds a client may take to send one request head, by default."""
MAX_QUEUED = 64
"""Pipelined requests read ahead of the one being answered; then reading pauses."""
CHUNK = 64 * 1024
"""The largest single write of a body; a larger body waits for the client between writes."""
FD_HEADROOM = 64
"""File descriptors kept free for the listening socket, stats readers and the runtime."""

_BODY = memoryview(b"x" * CHUNK)


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of the server's counters (see the module docstring)."""

    served: int
    in_flight: int
    max_in_flight: int
    open_connections: int
    connections: int
    refused: int
    refused_connections: int
    max_connections: int
    write_paused: int
    errors: int
    cpu_seconds: float


# --- the server process: counters ----------------------------------------------------------


class _Counters:
    def __init__(self, max_connections: int) -> None:
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.open_connections = 0
        self.connections = 0
        self.refused = 0
        self.refused_connections = 0
        self.max_connections = max_connections
        self.write_paused = 0
        self.errors = 0
        self.holds: list[tuple[int, asyncio.Future[None]]] = []

    def begin(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
            self._release_holds()

    def end(self, *, served: bool) -> None:
        self.in_flight -= 1
        self.served += served

    def reset(self) -> None:
        self.served = 0
        self.connections = 0
        self.max_in_flight = self.in_flight

    def hold(self, n: int) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        self.holds.append((n, waiter))
        self._release_holds()
        return waiter

    def _release_holds(self) -> None:
        still_held = []
        for n, waiter in self.holds:
            if n <= self.max_in_flight:
                if not waiter.done():
                    waiter.set_result(None)
            elif not waiter.done():
                still_held.append((n, waiter))
        self.holds = still_held

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "served": self.served,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "open_connections": self.open_connections - 1,  # not the one asking
                "connections": self.connections,
                "refused": self.refused,
                "refused_connections": self.refused_connections,
                "max_connections": self.max_connections,
                "write_paused": self.write_paused,
                "errors": self.errors,
                "cpu_seconds": time.process_time(),
            }
        ).encode()


# --- the server process: reading a request -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    name: str
    arg: int
    query: dict[str, int]
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    reason: str
    keep_alive: bool = False


# Each endpoint: the bounds of its path argument (None: it takes none) and the query
# parameters it takes. Every number a client sends is checked against a bound here.
_ENDPOINTS: dict[str, tuple[tuple[int, int] | None, frozenset[str]]] = {
    "bytes": ((0, MAX_BYTES), frozenset({"delay"})),
    "status": ((200, 599), frozenset({"delay"})),
    "drop": (None, frozenset({"delay"})),
    "abort": (None, frozenset({"delay"})),
    "hang": (None, frozenset({"delay"})),
    "trickle": ((0, MAX_TRICKLE), frozenset({"delay", "interval"})),
    "hold": ((1, MAX_CONNECTIONS), frozenset({"delay", "status", "timeout"})),
    "stats": (None, frozenset()),
    "reset": (None, frozenset()),
}
_QUERY_BOUNDS = {
    "delay": (0, MAX_WAIT_MS),
    "interval": (0, MAX_WAIT_MS),
    "timeout": (0, MAX_WAIT_MS),
    "status": (200, 599),
}


def _bounded(what: str, text: str, bounds: tuple[int, int]) -> int | _Refusal:
    low, high = bounds
    if not (text.isascii() and text.isdigit()):
        return _Refusal(400, f"{what} must be a whole number from {low} to {high}, got {text[:40]!r}", True)
    # A number with more digits than the bound is out of bounds; int() of it could be slow.
    if len(text.lstrip("0")) > len(str(high)) or not low <= int(text) <= high:
        shown = text if len(text) <= 40 else f"{text[:40]}..."
        return _Refusal(400, f"{what} must be from {low} to {high}, got {shown}", True)
    return int(text)


def _parse(head: bytes) -> _Request | _Refusal:
    """The request in ``head`` (its request line and headers), or why it is refused."""
    request_line, *header_lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[1].startswith(b"/") or any(c < 0x20 or c >= 0x7F for c in request_line):
        return _Refusal(400, "malformed request line")
    method, target, version = (part.decode("ascii") for part in parts)
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        return _Refusal(505, "only HTTP/1.0 and HTTP/1.1 are served")
    if method != "GET":
        return _Refusal(405, "only GET is served")
    headers: dict[bytes, bytes] = {}
    for line in header_lines:
        field, colon, value = line.partition(b":")
        if not colon or not field or field != field.strip():
            return _Refusal(400, "malformed header line")
        headers[field.lower()] = value.strip().lower()
    if b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0":
        return _Refusal(400, "request bodies are not accepted")
    keep_alive = version == "HTTP/1.1" and headers.get(b"connection") != b"close"

    url = urlsplit(target)
    name, _, arg_text = url.path.strip("/").partition("/")
    if name not in _ENDPOINTS:
        return _Refusal(404, f"no such endpoint: {url.path[:80]}", keep_alive)
    arg_bounds, known = _ENDPOINTS[name]
    arg = 0
    if arg_bounds is not None:
        checked = _bounded(f"/{name}/<n>", arg_text, arg_bounds)
        if isinstance(checked, _Refusal):
            return checked
        arg = checked
    elif arg_text:
        return _Refusal(404, f"no such endpoint: {url.path[:80]}", keep_alive)
    try:
        fields = parse_qs(url.query, keep_blank_values=True, max_num_fields=len(known) + 1)
    except ValueError:
        return _Refusal(400, "too many query parameters", keep_alive)
    query: dict[str, int] = {}
    for key, values in fields.items():
        if key not in known:
            return _Refusal(400, f"/{name} takes no parameter {key[:40]!r}", keep_alive)
        checked = _bounded(key, values[-1], _QUERY_BOUNDS[key])
        if isinstance(checked, _Refusal):
            return checked
        query[key] = checked
    return _Request(name, arg, query, keep_alive)


def _is_fast(item: _Request | _Refusal) -> bool:
    """Whether ``item`` is answered at once, without a task: nothing to wait for."""
    if isinstance(item, _Refusal):
        return True
    if "delay" in item.query:
        return False
    return item.name in ("status", "stats", "reset") or (item.name == "bytes" and item.arg <= CHUNK)


# --- the server process: the protocol ------------------------------------------------------


class _HTTPProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests on one connection are answered in order.

    A request with nothing to wait for is answered inside ``data_received``; the others
    queue for one responder task per connection. Reading pauses while ``MAX_QUEUED``
    requests wait, and the responder writes a body no faster than the client reads it.
    """

    def __init__(self, counters: _Counters, head_timeout: float) -> None:
        self.counters = counters
        self.head_timeout = head_timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: deque[_Request | _Refusal] = deque()
        self.responder: asyncio.Task[None] | None = None
        self.busy = False  # a counted request is being answered
        self.held = False  # counted in open_connections (within the cap)
        self.closing = False  # the last request has been read
        self.reading = True
        self.writable = asyncio.Event()
        self.writable.set()
        self.head_timer: asyncio.TimerHandle | None = None

    # Connection events.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        if self.counters.open_connections >= self.counters.max_connections:
            # Refused with a 503 when its request arrives (so the client reads it rather
            # than a reset), or closed by the head timer if none does.
            self.counters.refused_connections += 1
            self._arm_head_timer(force=True)
            return
        self.held = True
        self.counters.open_connections += 1
        self.counters.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.held:
            self.counters.open_connections -= 1
        if not self.writable.is_set():
            self.counters.write_paused -= 1
        self._disarm_head_timer()
        if self.responder is not None:
            self.responder.cancel()
        if self.busy:
            self.busy = False
            self.counters.end(served=False)

    def pause_writing(self) -> None:
        self.counters.write_paused += 1
        self.writable.clear()

    def resume_writing(self) -> None:
        self.counters.write_paused -= 1
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if not self.held:
            self.closing = True
            self._answer_now(
                _Refusal(503, f"the server holds its maximum of {self.counters.max_connections} connections")
            )
            return
        self.buffer += data
        try:
            self._read_requests()
        except Exception as exc:
            self._internal_error(exc)

    # Reading requests.

    def _read_requests(self) -> None:
        start = 0
        while not self.closing and len(self.pending) < MAX_QUEUED:
            end = self.buffer.find(b"\r\n\r\n", start, start + MAX_HEAD + 4)
            if end < 0:
                if len(self.buffer) - start > MAX_HEAD:
                    line_ended = self.buffer.find(b"\r\n", start, start + MAX_HEAD) >= 0
                    self._accept(
                        _Refusal(431, f"the request's headers pass {MAX_HEAD} bytes")
                        if line_ended
                        else _Refusal(414, f"the request line passes {MAX_HEAD} bytes")
                    )
                break
            self._accept(_parse(bytes(self.buffer[start:end])))
            start = end + 4
        del self.buffer[:start]
        if self.closing:
            self.buffer.clear()
        self._pace_reading()
        self._arm_head_timer()

    def _accept(self, item: _Request | _Refusal) -> None:
        self._disarm_head_timer()
        if not item.keep_alive:
            self.closing = True
        if self.responder is None and not self.pending and self.writable.is_set() and _is_fast(item):
            self._answer_now(item)
        else:
            self.pending.append(item)
            if self.responder is None:
                self.responder = asyncio.get_running_loop().create_task(self._respond())

    def _pace_reading(self) -> None:
        assert self.transport is not None
        room = len(self.pending) < MAX_QUEUED
        if room and not self.reading and not self.closing:
            self.reading = True
            self.transport.resume_reading()
            self._read_requests()  # what was read before the pause
        elif not room and self.reading:
            self.reading = False
            self.transport.pause_reading()

    def _arm_head_timer(self, *, force: bool = False) -> None:
        # Only a client that owes us the rest of a request head is on the clock.
        idle = self.responder is None and not self.pending and not self.closing
        if self.head_timer is None and (force or (idle and self.buffer)):
            self.head_timer = asyncio.get_running_loop().call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        self.closing = True
        if self.held and self.responder is None:
            self._answer_now(_Refusal(408, f"no complete request head within {self.head_timeout:g} s"))
        elif self.transport is not None:
            self.transport.close()

    # Answering.

    def _answer_now(self, item: _Request | _Refusal) -> None:
        if isinstance(item, _Refusal):
            self.counters.refused += 1
            self._write_response(item.status, item.reason.encode(), item.keep_alive)
        elif item.name in ("stats", "reset"):
            if item.name == "reset":
                self.counters.reset()
            self._write_response(200, self.counters.as_json(), item.keep_alive, "application/json")
        else:
            self.counters.begin()
            if item.name == "bytes":
                self._write_head(200, item.arg, item.keep_alive)
                self._write(_BODY[: item.arg])
            else:
                self._write_response(item.arg, f"status {item.arg}".encode(), item.keep_alive)
            self.counters.end(served=True)
        self._finish(item.keep_alive)

    async def _respond(self) -> None:
        try:
            while self.pending:
                await self.writable.wait()
                item = self.pending.popleft()
                self._pace_reading()
                if _is_fast(item):
                    self._answer_now(item)
                    continue
                assert isinstance(item, _Request)
                self.counters.begin()
                self.busy = True
                await self._serve(item)
                self.busy = False
                self.counters.end(served=True)
                self._finish(item.keep_alive)
        except Exception as exc:
            self._internal_error(exc)
        self.responder = None
        self._arm_head_timer()

    async def _serve(self, request: _Request) -> None:
        name, arg, query, keep_alive = request.name, request.arg, request.query, request.keep_alive
        if "delay" in query:
            await asyncio.sleep(query["delay"] / 1000)
        if name == "bytes":
            self._write_head(200, arg, keep_alive)
            await self._write_body(arg)
        elif name == "status":
            self._write_response(arg, f"status {arg}".encode(), keep_alive)
        elif name in ("drop", "abort"):
            self._write_head(200, DROP_PROMISED, keep_alive)
            self._write(_BODY[:DROP_SENT])
            assert self.transport is not None
            if name == "abort":
                # With a zero linger time, closing the socket sends a reset, not a FIN.
                sock = self.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.close()
            await asyncio.Future()  # connection_lost cancels us
        elif name == "hang":
            await asyncio.Future()
        elif name == "trickle":
            self._write_head(200, arg, keep_alive)
            for _ in range(arg):
                await asyncio.sleep(query.get("interval", 10) / 1000)
                self._write(b"x")
        elif name == "hold":
            try:
                await asyncio.wait_for(self.counters.hold(arg), query.get("timeout", 30_000) / 1000)
            except TimeoutError:
                self._write_head(504, 0, keep_alive)
            else:
                self._write_response(query.get("status", 200), b"held", keep_alive)

    async def _write_body(self, size: int) -> None:
        while size > 0:
            await self.writable.wait()
            piece = min(size, CHUNK)
            self._write(_BODY[:piece])
            size -= piece

    def _write_response(self, status: int, body: bytes, keep_alive: bool, kind: str = "text/plain") -> None:
        if status in (204, 304):
            # No content with a 204 or 304 (RFC 9110, 6.4.1): a client reads none, so a body
            # would be taken for the start of the next response on the connection.
            body = b""
        self._write_head(status, len(body), keep_alive, kind)
        self._write(body)

    def _write_head(self, status: int, length: int, keep_alive: bool, kind: str = "text/plain") -> None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        connection = "keep-alive" if keep_alive else "close"
        self._write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\n"
            f"Content-Type: {kind}\r\nConnection: {connection}\r\n\r\n".encode()
        )

    def _write(self, data: bytes | memoryview) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _finish(self, keep_alive: bool) -> None:
        if not keep_alive and self.transport is not None:
            self.transport.close()

    def _internal_error(self, exc: Exception) -> None:
        # A bug, never a client's doing: counted for the tests, logged, and the connection closed.
        self.counters.errors += 1
        loop = asyncio.get_running_loop()
        loop.call_exception_handler({"message": "the loopback server failed", "exception": exc, "protocol": self})
        if self.transport is not None:
            self.transport.abort()


# --- the server process: main --------------------------------------------------------------


def _connection_cap(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open that many files (raising its soft limit first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return max(1, min(wanted, soft - FD_HEADROOM))


async def _serve_forever(port: int, max_connections: int, head_timeout: float) -> None:
    counters = _Counters(_connection_cap(max_connections))
    loop = asyncio.get_running_loop()

    def count_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != "the loopback server failed":  # counted already
            counters.errors += 1
        loop.default_exception_handler(context)

    loop.set_exception_handler(count_error)
    server = await loop.create_server(lambda: _HTTPProtocol(counters, head_timeout), HOST, port, backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://{HOST}:{bound}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, help="open connections held at once")
    parser.add_argument("--head-timeout", type=float, default=HEAD_TIMEOUT, help="seconds to send a request head")
    args = parser.parse_args(argv)
    loop_factory = None
    if args.loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_forever(args.port, args.max_connections, args.head_timeout))


def fetch_stats(url: str, *, reset: bool = False, patience: float = 10.0) -> ServerStats:
    """The counters of the server at ``url`` (zeroed after reading when ``reset``): a plain
    blocking call, for the process that started the server or any other one.

    A server at its connection cap answers 503 (or resets a connection it could not read
    from), so the call retries for up to ``patience`` seconds.
    """
    address = urlsplit(url)
    deadline = time.monotonic() + patience
    while True:
        connection = http.client.HTTPConnection(address.hostname or HOST, address.port, timeout=patience)
        try:
            connection.request("GET", "/reset" if reset else "/stats")
            response = connection.getresponse()
            body = response.read()
            if response.status == 200:
                return ServerStats(**json.loads(body))
            problem = f"{response.status} {body[:200]!r}"
        except (ConnectionResetError, BrokenPipeError) as exc:  # http.client.RemoteDisconnected too
            problem = repr(exc)
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the loopback server at {url} gave no stats: {problem}")
        time.sleep(0.01)


# --- the parent's handle ------------------------------------------------------------------


class LoopbackServer:
    """Start the server process on a free port; use as a context manager.

    ``stats()`` and ``reset()`` are plain blocking calls, made from outside any event loop.
    ``max_connections`` and ``head_timeout`` default to ``MAX_CONNECTIONS`` and ``HEAD_TIMEOUT``.
    """

    def __init__(
        self, *, loop: str = "uvloop", max_connections: int | None = None, head_timeout: float | None = None
    ) -> None:
        self.loop = loop
        self.options: list[str] = []
        if max_connections is not None:
            self.options += ["--max-connections", str(max_connections)]
        if head_timeout is not None:
            self.options += ["--head-timeout", str(head_timeout)]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "triptych.server", "--loop", self.loop, *self.options],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the loopback server did not start: {line!r}")
        self.url = line.removeprefix("listening on ").strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def stats(self) -> ServerStats:
        return fetch_stats(self.url)

    def reset(self) -> ServerStats:
        return fetch_stats(self.url, reset=True)

    def wait_idle(self, timeout: float = 10.0) -> ServerStats:
        """Poll until no request is in flight and no connection is open; return the stats.

        Closing a socket is seen by the server a moment later, so the check polls; the
        timeout is a backstop for a real leak, not a measured duration.
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if (stats.open_connections == 0 and stats.in_flight == 0) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)


if __name__ == "__main__":
    main()
