"""Contract: HTTP fetch fan-out with httpx.

Fetch many URLs concurrently, at most ``limit`` at a time, and report every outcome.
:class:`Fanout` is the specification; ``impl_*/fanout.py`` implement it, and the behaviour
suite tests it against the loopback server.

Why each worker owns a one-connection client
--------------------------------------------
httpcore's connection pool re-examines every connection and every queued request each
time a request starts or ends, and with more than ``max_keepalive_connections`` (20 by
default) connections it closes each one that goes idle, so one shared ``AsyncClient``
with 100 requests in flight does a few hundred requests a second where one request at a
time does ~1,900. The implementations therefore run ``limit`` workers and give each its
own client holding one connection: the pool bookkeeping stays O(1), connections are
reused, and at most ``limit`` requests can be in flight because there are only ``limit``
workers. A caller who passes a ``client`` gets exactly that client for every request,
pool and all; it is then the client, not the event loop, that sets the pace.

What is left running
--------------------
[fanout.left_running] When a call returns or raises, nothing it started still runs: no task, no
connection of its own clients, and no work in any thread (a host name is resolved in a worker
thread). A library's own idle threads are not the call's: Trio keeps the threads it resolved
with in a process-wide cache, idle and named ``Trio thread N``, for about ten seconds in case
they are needed again (``trio._core._thread_cache``, ``IDLE_TIMEOUT``), while asyncio's default
executor is shut down with the loop. The suite's leak check allows exactly those.
"""

from __future__ import annotations

import enum
import functools
import ssl
from collections.abc import AsyncGenerator, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

import httpx

from shared.validation import require_bool, require_bound, require_int, require_items

__all__ = ["ErrorKind", "Fanout", "FanoutError", "FetchResult"]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("check_fetch_args", "worker_client")
"""Support code for the implementations, not contract: argument checks and bookkeeping
that the three packages share so that they record the same things the same way."""


class ErrorKind(enum.Enum):
    """Why a fetch failed."""

    TIMEOUT = "timeout"
    """The per-request ``timeout`` ran out (or the caller's client timed out)."""
    CONNECT = "connect"
    """No connection could be made."""
    READ = "read"
    """The connection failed while sending the request or reading the response."""
    PROTOCOL = "protocol"
    """The peer broke HTTP, e.g. closed the connection before the promised body was sent."""
    STATUS = "status"
    """A response came with status 400 or more."""
    OTHER = "other"
    """Any other ``httpx.HTTPError``."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of fetching ``url``, the ``index``-th of the input."""

    index: int
    url: str
    status: int | None
    """The response status, or None when no response arrived."""
    size: int
    """Bytes in the response body; 0 when no complete body arrived."""
    error: ErrorKind | None = None
    """None when the fetch succeeded."""
    detail: str = ""
    """The failure's message, empty on success."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_response(cls, index: int, url: str, response: httpx.Response) -> FetchResult:
        return cls(index, url, response.status_code, len(response.content))

    @classmethod
    def from_error(cls, index: int, url: str, error: BaseException) -> FetchResult:
        """Classify ``error``: a ``TimeoutError``, ``trio.TooSlowError`` or ``httpx.HTTPError``."""
        status, size = None, 0
        if isinstance(error, httpx.HTTPStatusError):
            kind = ErrorKind.STATUS
            status, size = error.response.status_code, len(error.response.content)
        elif isinstance(error, httpx.TimeoutException) or not isinstance(error, httpx.HTTPError):
            kind = ErrorKind.TIMEOUT
        elif isinstance(error, httpx.ConnectError):
            kind = ErrorKind.CONNECT
        elif isinstance(error, httpx.RemoteProtocolError):
            kind = ErrorKind.PROTOCOL
        elif isinstance(error, httpx.NetworkError):
            kind = ErrorKind.READ
        else:
            kind = ErrorKind.OTHER
        if isinstance(error, httpx.HTTPError):
            detail = str(error).split("\n", 1)[0] or type(error).__name__
        else:  # asyncio's TimeoutError or trio's TooSlowError: say it the same way
            detail = "the request ran past `timeout`"
        return cls(index, url, status, size, kind, detail)


class FanoutError(Exception):
    """A fetch failed under ``fail_fast=True``; ``__cause__`` is the original error.

    The same type on every flavour: never an ``ExceptionGroup``, ``trio.TooSlowError``
    or a bare ``TimeoutError``.
    """

    def __init__(self, result: FetchResult) -> None:
        assert result.error is not None
        super().__init__(f"fetching {result.url} failed ({result.error.value}): {result.detail}")
        self.result = result

    @property
    def url(self) -> str:
        return self.result.url


class Fanout(Protocol):
    """What ``impl_asyncio.fanout``, ``impl_trio.fanout`` and ``impl_anyio.fanout`` provide."""

    async def fetch_all(
        self,
        urls: Iterable[str],
        *,
        limit: int,
        timeout: float | None = None,
        fail_fast: bool = False,
        client: httpx.AsyncClient | None = None,
    ) -> list[FetchResult]:
        """[fanout.order] GET every URL, at most ``limit`` at once; return one result per URL, in input order.

        - [fanout.limit] At most ``limit`` requests are in flight at any moment, and with at
          least ``limit`` URLs of some duration, exactly ``limit`` are at some point.
        - [fanout.failures] A URL whose fetch fails gets a result with ``error`` set; the others
          go on. A status of 400 or more counts as failed (``ErrorKind.STATUS``).
        - [fanout.timeout] ``timeout`` bounds each request from its start to its last body byte
          (httpx's own timeouts bound single reads). A request that runs past it gets
          ``ErrorKind.TIMEOUT``. None means no bound.
        - [fanout.fail_fast] With ``fail_fast=True`` the first failure cancels every request
          still running, closes their connections, and raises :class:`FanoutError` for that URL
          with the original error as ``__cause__``.
        - [fanout.client] Without ``client``, the call makes its own clients and closes them; a
          given ``client`` is used for every request and left open.
        - [fanout.empty] An empty ``urls`` returns ``[]``.

        Raises: [fanout.args]
          TypeError: ``urls`` is not an iterable (or is a single string) or holds a
            non-string; ``limit`` is not an int; ``timeout`` not a number or None;
            ``fail_fast`` not a bool; ``client`` not an ``httpx.AsyncClient`` or None.
          ValueError: ``limit`` < 1; ``timeout`` <= 0 or NaN; a URL that httpx refuses
            (a bad port, a control character, a broken IPv6 literal ...), that is not
            http(s) or has no host, or whose port is outside 1-65535. Every argument is
            checked before any request is made.
          FanoutError: with ``fail_fast=True``, for the first failed URL.
        """
        ...

    def fetch_as_completed(
        self,
        urls: Iterable[str],
        *,
        limit: int,
        timeout: float | None = None,
        fail_fast: bool = False,
        client: httpx.AsyncClient | None = None,
    ) -> AbstractAsyncContextManager[AsyncGenerator[FetchResult, None]]:
        """[fanout.as_completed] Like :meth:`fetch_all`, but yield each result as soon as it completes.

        Use it as::

            async with fetch_as_completed(urls, limit=10) as results:
                async for result in results:
                    ...

        [fanout.as_completed.exit] The fetches run in tasks owned by the ``async with`` block,
        never by the iterator, so leaving the block for any reason (``break``, an exception, the
        end) cancels every fetch still running and waits for them before it returns. Closing the
        iterator (``await results.aclose()``) inside the block stops the fetches too. Arguments
        are checked when the block is entered; ``FanoutError`` is raised out of the block.
        """
        ...


def check_fetch_args(
    urls: Iterable[str], limit: object, timeout: object, fail_fast: object, client: object
) -> tuple[list[str], int, float]:
    """Validate the arguments of :class:`Fanout`'s calls; return the URLs as a list, the limit
    and the timeout in seconds (``math.inf`` for None). Every URL that httpx would refuse is
    refused here, before any request is made."""
    url_list = require_items("urls", urls, of="URL strings")
    checked_limit = require_int("limit", limit, minimum=1)
    checked_timeout = require_bound("timeout", timeout, zero=False)
    require_bool("fail_fast", fail_fast)
    if client is not None and not isinstance(client, httpx.AsyncClient):
        raise TypeError(f"`client` must be an httpx.AsyncClient or None, got {client!r}")
    for index, url in enumerate(url_list):
        _check_url(index, url)
    return url_list, checked_limit, checked_timeout


def _check_url(index: int, url: object) -> None:
    if not isinstance(url, str):
        raise TypeError(f"`urls[{index}]` must be a str, got {url!r}")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:  # a bad IDNA label is a UnicodeError
        raise ValueError(f"`urls[{index}]` is not a valid URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"`urls[{index}]` is not an http(s) URL: {url!r}")
    # httpx takes any integer port; the socket layer then fails in a way that depends on the
    # loop (an OverflowError from asyncio's, a connect error from uvloop's and Trio's).
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"`urls[{index}]` has a port out of range 1-65535: {url!r}")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a verifying context loads the CA bundle (~20 ms); build it once, not per client.
    return httpx.create_ssl_context()


def worker_client(client: httpx.AsyncClient | None) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The client one worker uses: the caller's (left open), or its own one-connection client.

    The worker's own client has no httpx timeout, so ``timeout`` is the only time limit.
    """
    if client is not None:
        return nullcontext(client)
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=None,
        verify=_ssl_context(),
    )
