"""HTTP fetch fan-out in AnyIO: a task group of ``limit`` workers.

Contract and docstrings: :class:`shared.fanout.Fanout`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing, asynccontextmanager

import anyio
import httpx
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from shared.errors import caller_code, one_error, surfaces_caller_errors
from shared.fanout import FanoutError, FetchResult, check_fetch_args, worker_client

__all__ = ["fetch_all", "fetch_as_completed"]

Deliver = Callable[[FetchResult], Awaitable[None]]


# --- One request ---------------------------------------------------------------------------


async def _fetch_one(client: httpx.AsyncClient, index: int, url: str, timeout: float, fail_fast: bool) -> FetchResult:
    try:
        # fail_after bounds the whole request, body included; httpx's timeouts bound each read.
        with anyio.fail_after(timeout):
            response = await client.get(url)
        if response.is_error:  # 400 or more; raise_for_status() alone would also fail a 3xx
            response.raise_for_status()
    except (TimeoutError, httpx.HTTPError) as exc:
        result = FetchResult.from_error(index, url, exc)
        if fail_fast:
            raise FanoutError(result) from exc
        return result
    return FetchResult.from_response(index, url, response)


# --- The worker pool -----------------------------------------------------------------------
#
# `limit` workers, each with its own one-connection client, rather than one task per URL
# behind a CapacityLimiter around one shared client: httpcore's pool bookkeeping grows with
# the requests it holds, and this keeps 100 in flight as fast as httpx is with 1 (see
# shared.fanout). The limit holds because only `limit` workers exist.


async def _worker(
    jobs: Iterator[tuple[int, str]],
    client: httpx.AsyncClient | None,
    timeout: float,
    fail_fast: bool,
    deliver: Deliver,
) -> None:
    async with worker_client(client) as own_client:
        # One shared iterator feeds every worker: the loop runs one task at a time, so
        # next() never races and no job is buffered.
        for index, url in jobs:
            await deliver(await _fetch_one(own_client, index, url, timeout, fail_fast))


async def _run_pool(
    urls: list[str],
    limit: int,
    timeout: float,
    fail_fast: bool,
    client: httpx.AsyncClient | None,
    deliver: Deliver,
) -> None:
    jobs = iter(enumerate(urls))
    try:
        async with anyio.create_task_group() as workers:
            for _ in range(min(limit, len(urls))):
                workers.start_soon(_worker, jobs, client, timeout, fail_fast, deliver)
    except BaseExceptionGroup as group:
        # Siblings that failed in the same instant land here too; the first one wins.
        raise one_error(group, failure=FanoutError)


# --- Streaming -----------------------------------------------------------------------------
#
# The fetches run in a task of the caller's `async with` block, not inside an async
# generator (yielding out of a task group breaks structured concurrency, PEP 789), so a
# `break` can never leave them running. The handle to stop them early is a CancelScope
# that the task hands back through TaskGroup.start().


async def _stream_pool(
    urls: list[str],
    limit: int,
    timeout: float,
    fail_fast: bool,
    client: httpx.AsyncClient | None,
    results: MemoryObjectSendStream[FetchResult],
    *,
    task_status: TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED,
) -> None:
    # Close `results` synchronously, after the scope: an `async with` would checkpoint on the
    # way out, and a cancel landing there would replace (and so lose) a FanoutError.
    with results, anyio.CancelScope() as scope:
        task_status.started(scope)
        await _run_pool(urls, limit, timeout, fail_fast, client, results.send)


async def _receive(
    results: MemoryObjectReceiveStream[FetchResult], pool: anyio.CancelScope
) -> AsyncGenerator[FetchResult, None]:
    try:
        # The pool closes its end when every URL is done, which ends this loop.
        async for result in results:
            yield result
    finally:
        pool.cancel()


# --- Public API ----------------------------------------------------------------------------


async def fetch_all(
    urls: Iterable[str],
    *,
    limit: int,
    timeout: float | None = None,
    fail_fast: bool = False,
    client: httpx.AsyncClient | None = None,
) -> list[FetchResult]:
    """Contract: :meth:`shared.fanout.Fanout.fetch_all`."""
    url_list, limit, timeout = check_fetch_args(urls, limit, timeout, fail_fast, client)
    done: dict[int, FetchResult] = {}

    async def store(result: FetchResult) -> None:
        done[result.index] = result

    await _run_pool(url_list, limit, timeout, fail_fast, client, store)
    return [done[index] for index in range(len(url_list))]


@surfaces_caller_errors
@asynccontextmanager
async def fetch_as_completed(
    urls: Iterable[str],
    *,
    limit: int,
    timeout: float | None = None,
    fail_fast: bool = False,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[AsyncGenerator[FetchResult, None]]:
    """Contract: :meth:`shared.fanout.Fanout.fetch_as_completed`."""
    url_list, limit, timeout = check_fetch_args(urls, limit, timeout, fail_fast, client)
    # Room for every result, so no worker waits on a slow reader.
    send, receive = anyio.create_memory_object_stream[FetchResult](len(url_list))
    try:
        async with anyio.create_task_group() as tasks, receive:
            pool = await tasks.start(_stream_pool, url_list, limit, timeout, fail_fast, client, send)
            async with aclosing(_receive(receive, pool)) as received:
                try:
                    # The block is the caller's code: its own exception is carried out as it is.
                    with caller_code():
                        yield received
                finally:
                    pool.cancel()
    except BaseExceptionGroup as group:
        # The task group wraps a FanoutError, or the block's own error, even when alone.
        raise one_error(group, failure=FanoutError)
