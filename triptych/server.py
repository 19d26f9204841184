"""The loopback HTTP/1.1 server that the behaviour suite and the benchmarks fetch from.

It only ever runs as its own process (``python -m triptych.server``), so its CPU is never
the client's, and no ``impl_*`` module imports it. It is a bare ``asyncio.Protocol`` on
uvloop when uvloop is installed: a framework server (uvicorn + h11) saturates near
9,500 req/s, which is about what aiohttp can ask of it, while this one stays well below
a core at that rate (see ``FACTS.md``).

Endpoints (``GET``; every one accepts ``?delay=<ms>`` before it starts to answer)::

    /bytes/<n>                 200 with an n-byte body
    /status/<code>             that status, with a short body (none for 204 and 304)
    /drop                      headers promising 64 KiB, 1 KiB of it, then the connection closes
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
last reset, and ``cpu_seconds`` the server process has used in all.

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
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackServer", "ServerStats", "fetch_stats"]

HOST = "127.0.0.1"
DROP_PROMISED = 64 * 1024
DROP_SENT = 1024


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of the server's counters (see the module docstring)."""

    served: int
    in_flight: int
    max_in_flight: int
    open_connections: int
    connections: int
    cpu_seconds: float


# --- the server process -------------------------------------------------------------------


class _Counters:
    def __init__(self) -> None:
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.open_connections = 0
        self.connections = 0
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
                "cpu_seconds": time.process_time(),
            }
        ).encode()


class _HTTPProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests on one connection are answered in order."""

    def __init__(self, counters: _Counters) -> None:
        self.counters = counters
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.requests: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        self.responder: asyncio.Task[None] | None = None
        self.busy = False  # a counted request is being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.counters.open_connections += 1
        self.counters.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.counters.open_connections -= 1
        if self.responder is not None:
            self.responder.cancel()
        if self.busy:
            self.busy = False
            self.counters.end(served=False)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
            headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "") != "close"
            if self.responder is None and self.requests.empty() and _is_fast(target):
                self._answer_now(target, keep_alive)
            else:
                self.requests.put_nowait((method, target, keep_alive))
                if self.responder is None:
                    self.responder = asyncio.get_running_loop().create_task(self._respond())

    # The common case, /bytes/<n> with no delay, is answered without a task.
    def _answer_now(self, target: str, keep_alive: bool) -> None:
        self.counters.begin()
        size = int(target.removeprefix("/bytes/"))
        self._write_head(200, size, keep_alive)
        self._write(b"x" * size)
        self.counters.end(served=True)
        self._finish(keep_alive)

    async def _respond(self) -> None:
        while not self.requests.empty():
            _method, target, keep_alive = self.requests.get_nowait()
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path in ("/stats", "/reset"):
                if url.path == "/reset":
                    self.counters.reset()
                body = self.counters.as_json()
                self._write_head(200, len(body), keep_alive, "application/json")
                self._write(body)
                self._finish(keep_alive)
                continue
            self.counters.begin()
            self.busy = True
            await self._serve(url.path, query, keep_alive)
            self.busy = False
            self.counters.end(served=True)
            self._finish(keep_alive)
        self.responder = None

    async def _serve(self, path: str, query: dict[str, str], keep_alive: bool) -> None:
        if "delay" in query:
            await asyncio.sleep(int(query["delay"]) / 1000)
        name, _, arg = path.strip("/").partition("/")
        if name == "bytes" and arg.isdigit():
            self._write_head(200, int(arg), keep_alive)
            self._write(b"x" * int(arg))
        elif name == "status" and arg.isdigit():
            # No content with a 204 or 304 (RFC 9110, 6.4.1): a client reads none, so a body
            # would be taken for the start of the next response on the connection.
            body = b"" if int(arg) in (204, 304) else f"status {arg}".encode()
            self._write_head(int(arg), len(body), keep_alive)
            self._write(body)
        elif name == "drop":
            self._write_head(200, DROP_PROMISED, keep_alive)
            self._write(b"x" * DROP_SENT)
            assert self.transport is not None
            self.transport.close()
            await asyncio.Future()  # connection_lost cancels us
        elif name == "hang":
            await asyncio.Future()
        elif name == "trickle" and arg.isdigit():
            interval = int(query.get("interval", "10")) / 1000
            self._write_head(200, int(arg), keep_alive)
            for _ in range(int(arg)):
                await asyncio.sleep(interval)
                self._write(b"x")
        elif name == "hold" and arg.isdigit():
            try:
                await asyncio.wait_for(self.counters.hold(int(arg)), int(query.get("timeout", "30000")) / 1000)
            except TimeoutError:
                self._write_head(504, 0, keep_alive)
            else:
                status = int(query.get("status", "200"))
                self._write_head(status, 4, keep_alive)
                self._write(b"held")
        else:
            body = f"no such endpoint: {path}".encode()
            self._write_head(404, len(body), keep_alive)
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

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _finish(self, keep_alive: bool) -> None:
        if not keep_alive and self.transport is not None:
            self.transport.close()


def _is_fast(target: str) -> bool:
    return target.startswith("/bytes/") and target[7:].isdigit()


async def _serve_forever(port: int) -> None:
    counters = _Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HTTPProtocol(counters), HOST, port, backlog=1024)
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
    args = parser.parse_args(argv)
    loop_factory = None
    if args.loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_forever(args.port))


def fetch_stats(url: str, *, reset: bool = False) -> ServerStats:
    """The counters of the server at ``url`` (zeroed after reading when ``reset``): a plain
    blocking call, for the process that started the server or any other one."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or HOST, address.port, timeout=10)
    try:
        connection.request("GET", "/reset" if reset else "/stats")
        return ServerStats(**json.loads(connection.getresponse().read()))
    finally:
        connection.close()


# --- the parent's handle ------------------------------------------------------------------


class LoopbackServer:
    """Start the server process on a free port; use as a context manager.

    ``stats()`` and ``reset()`` are plain blocking calls, made from outside any event loop.
    """

    def __init__(self, *, loop: str = "uvloop") -> None:
        self.loop = loop
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
            [sys.executable, "-m", "triptych.server", "--loop", self.loop],
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
