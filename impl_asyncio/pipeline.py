"""Producer/consumer pipeline in raw asyncio: a TaskGroup around an ``asyncio.Queue(maxsize)``.

Contract and docstrings: :class:`shared.pipeline.Pipeline`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from shared.errors import one_error, surfaces_caller_errors
from shared.pipeline import PipelineError, PipelineReport, Tally, check_pipeline_args

__all__ = ["run_pipeline"]

T = TypeVar("T")


# --- Only in asyncio: the end of input is a sentinel, as Queue.shutdown() needs Python 3.13 ---


class _Done(enum.Enum):
    """Put once per consumer behind the last item; a consumer stops at the first it takes."""

    DONE = enum.auto()


# --- Producers -----------------------------------------------------------------------------


async def _put(queue: asyncio.Queue[T | _Done], item: T, tally: Tally) -> None:
    # put_nowait() first: QueueFull says, with no race, that this put must wait, and when it
    # need not, qsize() is read before any other task runs. Queue.put() would not yield here
    # either, so this is still asyncio's own fast path.
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        tally.waited()
        await queue.put(item)
    else:
        tally.buffered(queue.qsize())


async def _produce(queue: asyncio.Queue[T | _Done], index: int, source: Iterator[T], tally: Tally) -> None:
    # One iterator feeds every producer: the loop runs one task at a time, so next() never
    # races, and an item leaves `source` only when its producer is about to put it.
    for item in source:
        await _put(queue, item, tally)
        tally.produced(index)


# --- Only in asyncio: the producers' own TaskGroup, so the sentinels go in after the last item ---


async def _feed(
    queue: asyncio.Queue[T | _Done], producers: int, consumers: int, source: Iterator[T], tally: Tally
) -> None:
    try:
        async with asyncio.TaskGroup() as feeders:
            for index in range(producers):
                producer = feeders.create_task(_produce(queue, index, source, tally))
                # An eager task can fail inside create_task, which aborts the group: start no
                # more (Python 3.12's TaskGroup would refuse and leave them never awaited).
                if producer.done() and not producer.cancelled() and producer.exception() is not None:
                    break
    except BaseExceptionGroup as group:
        # Only the caller's `items` can fail a producer; the TaskGroup wraps it even when alone.
        raise one_error(group)
    # Every item is in the queue (FIFO), so every sentinel lands behind all of them. The
    # sentinels respect maxsize too: this waits for room like any producer.
    for _ in range(consumers):
        await queue.put(_Done.DONE)


# --- Consumers -----------------------------------------------------------------------------


async def _consume(
    queue: asyncio.Queue[T | _Done], index: int, handler: Callable[[T], Awaitable[object]], tally: Tally
) -> None:
    # No task_done()/join(): the TaskGroup, not the queue, says when the work is over, so an
    # error is raised instead of lost.
    while (item := await queue.get()) is not _Done.DONE:
        try:
            await handler(item)
        except Exception as exc:
            raise PipelineError(item, exc) from exc
        tally.handled(index)


# --- Public API ----------------------------------------------------------------------------


@surfaces_caller_errors
async def run_pipeline(
    items: Iterable[T],
    *,
    handler: Callable[[T], Awaitable[object]],
    consumers: int,
    buffer: int,
    producers: int = 1,
) -> PipelineReport:
    """Contract: :meth:`shared.pipeline.Pipeline.run_pipeline`."""
    source, consumers, buffer, producers = check_pipeline_args(items, handler, consumers, buffer, producers)
    tally = Tally(producers, consumers)
    queue: asyncio.Queue[T | _Done] = asyncio.Queue(maxsize=buffer)
    try:
        # A failing consumer makes the TaskGroup cancel the producers (blocked in put() or
        # not) and every other consumer, and wait for them before it raises.
        async with asyncio.TaskGroup() as tasks:
            for index in range(consumers):
                tasks.create_task(_consume(queue, index, handler, tally))
            tasks.create_task(_feed(queue, producers, consumers, source, tally))
    except BaseExceptionGroup as group:
        # The TaskGroup wraps the PipelineError even when alone (see shared.errors).
        raise one_error(group, failure=PipelineError)
    return tally.report()
