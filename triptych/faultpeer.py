"""Faulty TCP peers for the fault matrix's streams cells (``triptych.faults``).

Each peer listens on 127.0.0.1, takes one connection, speaks the echo protocol's framing
(``shared.streams``) and misbehaves in one way, its mode. It first takes the ``frames``
frames the client sends before it waits for an echo (its window), so the client's writer
is idle when the fault comes and only its reader meets it: a writer sending meanwhile
could meet a reset first and leave the reader an end of stream instead (the kernel
reports a reset once). Then:

    close     sends the first echo's header and half its bytes, then ends its side (FIN)
    reset     the same, then resets the connection (SO_LINGER 0, so close sends an RST)
    hang      never answers
    trickle   sends the first echo a byte every ``interval`` seconds
    oversize  announces an echo of ``MAX_FRAME + 1`` bytes
    killed    reads nothing; its process is killed with SIGKILL once the frames wait
              unread in its socket (:class:`KilledPeer`)

The first five run in a thread of the caller's process (:class:`ThreadPeer`), so the
suite's leak checks see their sockets too. ``killed`` runs as its own process
(``python -m triptych.faultpeer``), since only a process can be killed.

:attr:`ended` says how the connection ended at the peer: ``"closed by the client"`` once
the peer read the end of the client's stream (or its reset), the check, from the far end,
that the client closed its socket; ``"reset by the peer"``; ``"killed"``; anything else
is a fault of the client (``"the whole echo sent"``, ``"still open"``).
"""

from __future__ import annotations

import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from shared.streams import HEADER, HOST, MAX_FRAME

__all__ = [
    "CLIENT_CLOSED",
    "ENDS_WITHIN",
    "KILLED",
    "MODES",
    "PEER_RESET",
    "STILL_OPEN",
    "KilledPeer",
    "ThreadPeer",
    "faulty_peer",
]

CLIENT_CLOSED = "closed by the client"
PEER_RESET = "reset by the peer"
KILLED = "killed"
STILL_OPEN = "still open"
WHOLE_ECHO = "the whole echo sent"
READY = "unread bytes waiting"
"""What the ``killed`` peer's process prints once the client's bytes wait unread in its socket."""
ENDS_WITHIN = 5.0
"""Seconds a :class:`ThreadPeer` gives the connection to end once its block is left: a
backstop for a client that left it open, not a wait anyone measures."""
RECEIVE_SIZE = 65536


class _Stopped(Exception):
    """The peer's owner stopped it before the connection ended."""


class _Link:
    """The peer's end of the connection, with waits that the owner's stop signal interrupts."""

    def __init__(self, sock: socket.socket, stop: socket.socket) -> None:
        self.sock, self._stop = sock, stop
        self._buffer = b""

    def readable(self, timeout: float | None = None) -> bool:
        """Wait until something (bytes, the end, a reset) can be read, or ``timeout`` seconds."""
        ready, _, _ = select.select([self.sock, self._stop], [], [], timeout)
        if self._stop in ready:
            raise _Stopped
        return self.sock in ready

    def receive(self) -> bytes:
        """The next bytes to arrive; b"" at the end of the stream. Raises ConnectionError on a reset."""
        self.readable()
        return self.sock.recv(RECEIVE_SIZE)

    def read_frame(self) -> bytes:
        """The client's next whole frame, header included."""
        while len(self._buffer) < HEADER or len(self._buffer) < HEADER + int.from_bytes(self._buffer[:HEADER], "big"):
            chunk = self.receive()
            if not chunk:
                raise ConnectionError("the client ended its stream before a whole frame")
            self._buffer += chunk
        size = HEADER + int.from_bytes(self._buffer[:HEADER], "big")
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def until_closed(self) -> str:
        """Read and drop whatever comes until the client closes the connection."""
        try:
            while self.receive():
                pass
        except ConnectionError:
            pass
        return CLIENT_CLOSED


# --- The modes -----------------------------------------------------------------------------


def _close(link: _Link, echo: bytes, interval: float) -> str:
    link.sock.sendall(echo[: len(echo) // 2])
    link.sock.shutdown(socket.SHUT_WR)
    return link.until_closed()


def _reset(link: _Link, echo: bytes, interval: float) -> str:
    link.sock.sendall(echo[: len(echo) // 2])
    link.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return PEER_RESET  # the owner closes the socket: a linger of 0 makes that an RST


def _hang(link: _Link, echo: bytes, interval: float) -> str:
    return link.until_closed()


def _trickle(link: _Link, echo: bytes, interval: float) -> str:
    for index in range(len(echo)):
        # The pause between two bytes is a wait for the client's close, so the trickle
        # stops as soon as the client has given up.
        try:
            if link.readable(interval) and not link.sock.recv(RECEIVE_SIZE):
                return CLIENT_CLOSED
            link.sock.sendall(echo[index : index + 1])
        except ConnectionError:
            return CLIENT_CLOSED
    # The client waited for the whole echo: its read timeout did not bound the frame.
    return WHOLE_ECHO


def _oversize(link: _Link, echo: bytes, interval: float) -> str:
    link.sock.sendall((MAX_FRAME + 1).to_bytes(HEADER, "big"))
    return link.until_closed()


MODES: dict[str, Callable[[_Link, bytes, float], str]] = {
    "close": _close,
    "reset": _reset,
    "hang": _hang,
    "trickle": _trickle,
    "oversize": _oversize,
}
"""The modes :class:`ThreadPeer` runs; ``killed`` is :class:`KilledPeer`."""


# --- The peers -----------------------------------------------------------------------------


class ThreadPeer:
    """A faulty peer in a thread of this process; use as a context manager. Leaving the
    block waits for the connection to end (the client closing it, in most modes)."""

    def __init__(self, mode: str, *, interval: float, frames: int = 1, ends_within: float = ENDS_WITHIN) -> None:
        self.mode, self.interval, self.frames, self.ends_within = mode, interval, frames, ends_within
        self.ended = STILL_OPEN
        self.port = 0

    def __enter__(self) -> ThreadPeer:
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        # The thread waits on its sockets and on this pair, so leaving the block can stop it.
        self._stop, self._stop_sender = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"fault-peer-{self.mode}")
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._thread.join(self.ends_within)
        if self._thread.is_alive():
            self._stop_sender.send(b"stop")
            self._thread.join()
        for sock in (self._listener, self._stop, self._stop_sender):
            sock.close()

    def _serve(self) -> None:
        try:
            _Link(self._listener, self._stop).readable()
            sock, _ = self._listener.accept()
            with sock:
                link = _Link(sock, self._stop)
                first = link.read_frame()
                for _ in range(self.frames - 1):
                    link.read_frame()
                self.ended = MODES[self.mode](link, first, self.interval)
        except _Stopped:
            pass
        except ConnectionError as error:
            self.ended = f"broken before its fault: {error}"


class KilledPeer:
    """The ``killed`` peer: ``python -m triptych.faultpeer``, killed with SIGKILL from a
    thread of this process once ``size`` bytes of the client's (the frames of its window)
    wait unread in its socket.

    The kernel closes a killed process's sockets itself, and how depends on what they
    hold, not on timing: a socket with bytes its process never read is closed with an RST
    (RFC 2525 §2.17; Linux ``tcp_close``), one with none with a FIN. The peer reads nothing
    and is killed only once the client's frames are in its socket, so the close is always
    an RST, whatever else arrives after. (Killed after reading them all, it would close
    with a FIN; killed while they are still in flight, with either: the kernel's race.)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.ended = STILL_OPEN
        self.port = 0

    def __enter__(self) -> KilledPeer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "triptych.faultpeer", str(self.size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().removeprefix("listening on "))
        self._killer = threading.Thread(target=self._kill_when_ready, name="fault-peer-killer")
        self._killer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()  # a peer still alive takes its end of input as the signal to go
        self._killer.join()
        self.process.stdout.close()
        code = self.process.returncode
        self.ended = KILLED if code == -signal.SIGKILL else f"exited with {code}"

    def _kill_when_ready(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() == READY:
            self.process.kill()
        self.process.wait()


def faulty_peer(mode: str, *, interval: float, frames: Sequence[bytes]) -> ThreadPeer | KilledPeer:
    """The peer for ``mode`` (one of :data:`MODES`, or ``"killed"``), ``frames`` being the
    frames the client sends before it waits for an echo."""
    if mode == KILLED:
        return KilledPeer(sum(len(frame) for frame in frames))
    return ThreadPeer(mode, interval=interval, frames=len(frames))


def main(argv: Sequence[str] | None = None) -> None:
    """The ``killed`` peer's process (``python -m triptych.faultpeer SIZE``): listen, print the
    port, accept one connection, wait until SIZE bytes of the client's are in its socket,
    print :data:`READY`, and wait to be killed (or, if nobody kills it, for its input to end)."""
    size = int((sys.argv[1:] if argv is None else argv)[0])
    with socket.create_server((HOST, 0)) as listener:
        print(f"listening on {listener.getsockname()[1]}", flush=True)
        if _ready_before_input_ends(listener):
            sock, _ = listener.accept()
            with sock:
                # Readable only once SIZE bytes are queued (or the stream ended): nothing is read.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
                if _ready_before_input_ends(sock):
                    print(READY, flush=True)
                    sys.stdin.read()


def _ready_before_input_ends(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock, sys.stdin], [], [])
    return sock in ready


if __name__ == "__main__":
    main()
